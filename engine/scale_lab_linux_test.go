package engine_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/lab"
)

// syntheticFlow is the i-th of up to 131072 made-up established TCP
// flows from 198.18.0.0/15, which carries no traffic.
func syntheticFlow(i int) ctnl.Flow {
	a := [4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)}
	o := ctnl.Tuple{Src: netip.AddrFrom4(a), Dst: netip.AddrFrom4([4]byte{198, 19, 255, 254}), Proto: 6, SrcPort: 10000, DstPort: 80}
	f := ctnl.Flow{Orig: o, Reply: o.Invert(), Timeout: 900, Status: ctnl.StatusConfirmed | ctnl.StatusSeenReply | ctnl.StatusAssured}
	f.Present |= ctnl.HasProtoInfo
	f.TCP.State = 3 // ESTABLISHED
	return f
}

// fill creates n synthetic flows in fw's kernel table through ctnetlink
// in batches: conntrack -I would take minutes for 100k.
func fill(t testing.TB, fw *lab.Node, n int) {
	t.Helper()
	var w *ctnl.Writer
	if err := fw.Do(func() (err error) { w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256}); return err }); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const batch = 4096
	flows := make([]ctnl.Flow, batch)
	reqs := make([]ctnl.Request, batch)
	errs := make([]error, batch)
	for start := 0; start < n; start += batch {
		m := min(batch, n-start)
		for i := range m {
			flows[i] = syntheticFlow(start + i)
			reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: &flows[i]}
		}
		if err := w.Apply(reqs[:m], errs[:m]); err != nil {
			t.Fatal(err)
		}
		for i, err := range errs[:m] {
			if err != nil {
				t.Fatalf("create %v: %v", flows[i].Orig, err)
			}
		}
	}
}

// TestLabScale is the "done": two engines sync and commit 100k
// flows in each mode. CTSYNC_SCALE_FLOWS changes the number.
func TestLabScale(t *testing.T) {
	n := 100000
	if s := os.Getenv("CTSYNC_SCALE_FLOWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 131072 {
			t.Fatalf("CTSYNC_SCALE_FLOWS=%q: want 1 to 131072", s)
		}
	}
	if testing.Short() {
		n = 5000
	}
	for _, mode := range []string{"ftfw", "notrack", "alarm"} {
		t.Run(mode, func(t *testing.T) {
			l := lab.New(t, lab.Options{})
			opts := labOptions{bigBuffers: true}
			fw1 := runEngine(t, l.FW1, labConfigWith(t, l.FW1, l.FW2, mode, "udp", false, opts))
			fw2 := runEngine(t, l.FW2, labConfigWith(t, l.FW2, l.FW1, mode, "udp", false, opts))
			start := time.Now()
			fill(t, l.FW1, n)
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
