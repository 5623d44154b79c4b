package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/engine/control"
)

// conntrackd -s SECTION in stats mode: -s, -s cache and -s runtime have
// their blocks, as conntrackd 1.4.7 prints them in this mode (its own
// test suite greps -s runtime for "uptime"); the sections about a peer
// or queues print nothing.
func TestFlowLogStatsSection(t *testing.T) {
	x := newFlowLogTest(t, runtimeOf(t, statsConf), newFakeTable(tcp("198.18.1.1", 1)), Options{})
	tests := []struct {
		section control.Section
		want    []string // in the output, in this order
		not     []string
	}{
		{control.SectionGeneral, []string{"cache stats:", "traffic processed:"}, nil},
		{control.SectionCache, []string{"cache:stats", "active objects:"}, []string{"traffic processed:", "uptime"}},
		{control.SectionRuntime, []string{"daemon uptime: 0 min", "netlink stats:", "runtime stats:"}, []string{"cache stats:", "traffic processed:"}},
		{control.SectionNetwork, nil, nil},
		{control.SectionLink, nil, nil},
		{control.SectionRSQueue, nil, nil},
		{control.SectionProcess, nil, nil},
		{control.SectionQueue, nil, nil},
		{control.SectionExpect, nil, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.section), func(t *testing.T) {
			out := strings.Join(lines(t, func(e control.Emit) error { return x.l.StatsSection(context.Background(), tt.section, e) }), "\n")
			if tt.want == nil && out != "" {
				t.Fatalf("printed %q, want nothing", out)
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("has %q:\n%s", n, out)
				}
			}
		})
	}
}
