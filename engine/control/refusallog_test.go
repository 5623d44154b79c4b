package control

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// A flood of garbage is counted in full and logged once per
// refusalLogEvery, with the number of refusals left out: the log stays
// small whatever the clients send.
func TestRefusalsLogBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s := serve(t, &fake{}, Options{Now: clock})
	const flood = 100
	for i := range flood {
		junk := []byte{0x00, 0xff, byte(i), '\n'}
		if i%2 == 1 {
			junk = []byte("not json\n")
		}
		exchange(t, s.path, junk, false)
	}
	mu.Lock()
	now = now.Add(refusalLogEvery)
	mu.Unlock()
	exchange(t, s.path, []byte("[]\n"), false)

	if st := s.Stats(); st.Malformed != flood+1 {
		t.Errorf("stats %+v, want %d malformed", st, flood+1)
	}
	var lines []string
	for l := range strings.Lines(s.log.String()) {
		if strings.Contains(l, "request refused") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || strings.Contains(lines[0], "not_logged_since_last") || !strings.Contains(lines[1], "not_logged_since_last=99") {
		t.Errorf("%d refusals logged as:\n%s\nwant two lines, the second saying 99 were left out", flood+1, strings.Join(lines, ""))
	}
}
