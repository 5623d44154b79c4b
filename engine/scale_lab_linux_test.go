package engine_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

// TestLabScale is the "done": two engines sync and commit 100k
// flows in each mode. CTSYNC_SCALE_FLOWS changes the number.
func TestLabScale(t *testing.T) {
	n := 100000
	if s := os.Getenv("CTSYNC_SCALE_FLOWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > lab.MaxFill {
			t.Fatalf("CTSYNC_SCALE_FLOWS=%q: want 1 to %d", s, lab.MaxFill)
		}
	}
	if testing.Short() || raceEnabled {
		n = 5000
	}
	for _, mode := range []string{"ftfw", "notrack", "alarm"} {
		t.Run(mode, func(t *testing.T) {
			l := lab.New(t, lab.Options{})
			o := lab.CtsyncOptions{Mode: mode, Transport: "udp", Burst: true}
			fw1 := runEngine(t, l.FW1, labConfigWith(t, l, l.FW1, o))
			fw2 := runEngine(t, l.FW2, labConfigWith(t, l, l.FW2, o))
			start := time.Now()
			l.FW1.Fill(t, n)
			created := time.Since(start)
			lab.Eventually(t, 120*time.Second, fmt.Sprintf("%d flows in fw2's external cache", n), func() (bool, string) {
				s := fw2.Snapshot()
				return s.External.Active >= uint64(n), fmt.Sprintf("fw1 internal %d, fw2 external %d; fw1 %+v", fw1.Snapshot().Internal.Active, s.External.Active, fw1.Snapshot().Ingest)
			})
			replicated := time.Since(start)
			t0 := time.Now()
			if err := fw2.Commit(context.Background(), nil); err != nil {
				t.Fatalf("commit: %v", err)
			}
			commit := time.Since(t0)
			if got := l.FW2.Count(t); got < n {
				t.Fatalf("fw2's kernel tracks %d flows after the commit, want at least %d", got, n)
			}
			t.Logf("%s: %d flows created in %v, replicated after %v, committed in %v (%.0f/s)",
				mode, n, created.Round(time.Millisecond), replicated.Round(time.Millisecond), commit.Round(time.Millisecond), float64(n)/commit.Seconds())
		})
	}
}
