package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/lab"
)

// syntheticLines keeps the lines of the made-up flows (lab.SyntheticFlow):
// a kernel table also holds the sync link's own flow.
func syntheticLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "src=198.18.") || strings.Contains(l, "src=198.19.") {
			out = append(out, l)
		}
	}
	return out
}

// converged waits until fw1's kernel table, fw1's internal cache and
// fw2's external cache hold the same flows, and fails with a diff of the
// last difference when they do not within limit.
func converged(t *testing.T, l *lab.Lab, fw1, fw2 *engine.Engine, limit time.Duration) {
	t.Helper()
	lab.Eventually(t, limit, "fw1's table, fw1's internal cache and fw2's external cache to hold the same flows", func() (bool, string) {
		kernel := syntheticLines(l.FW1.Entries(t))
		internal := dump(t, fw1, control.Internal)
		if d := lab.DiffFlows("fw1's kernel table", kernel, "fw1's internal cache", internal, 10); d != "" {
			return false, d
		}
		if d := lab.DiffFlows("fw1's internal cache", internal, "fw2's external cache", dump(t, fw2, control.External), 10); d != "" {
			return false, d
		}
		return true, ""
	})
}

// TestLabFaultNetlinkOverrun is issue 10's "netlink overruns": fw1's
// event socket has a tiny buffer that may not grow, and four writers
// create flows through ctnetlink as fast as the kernel takes them, while
// flows replicated before are destroyed. Events are lost: the overruns
// are counted, and the resync the engine runs once the events calm down
// (conntrackd's NetlinkOverrunResync) heals both caches with no command:
// fw2 ends with exactly fw1's flows, the destroyed ones gone too, their
// destroy events lost or not.
func TestLabFaultNetlinkOverrun(t *testing.T) {
	l := lab.New(t, lab.Options{})
	o := lab.CtsyncOptions{Mode: "ftfw", Transport: "udp", Burst: true}
	rt1 := labConfigWith(t, l, l.FW1, o)
	// The kernel doubles what is asked and takes at least a few KiB:
	// room for a few dozen events.
	rt1.Netlink.BufferSize, rt1.Netlink.BufferSizeMaxGrowth = 4096, 4096
	rt1.Netlink.OverrunResync = time.Second
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, labConfigWith(t, l, l.FW2, o))

	// Flows replicated before the burst, destroyed during it.
	const doomed, burst = 2000, 20000
	if err := l.FW1.WriteFlows(ctnl.OpCreate, lab.Span(0, doomed), 1); err != nil {
		t.Fatal(err)
	}
	converged(t, l, fw1, fw2, 60*time.Second)

	deleted := make(chan error, 1)
	go func() { deleted <- l.FW1.WriteFlows(ctnl.OpDelete, lab.Span(0, doomed), 1) }()
	if err := l.FW1.WriteFlows(ctnl.OpCreate, lab.Span(doomed, doomed+burst), 4); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}

	s := fw1.Snapshot().Ingest
	if s.Overruns == 0 || s.Events >= 2*doomed+burst {
		t.Fatalf("no events lost with a 4 KiB event buffer after %d creates and %d destroys: %+v", doomed+burst, doomed, s)
	}
	// `ctsync stats` shows them.
	var stats strings.Builder
	fw1.Stats(context.Background(), control.JSON, func(line []byte) error { stats.Write(line); return nil })
	var js struct {
		Ingest struct{ Overruns uint64 }
	}
	if err := json.Unmarshal([]byte(stats.String()), &js); err != nil || js.Ingest.Overruns < s.Overruns {
		t.Errorf("stats --format json shows %d overruns (%v), want at least %d:\n%s", js.Ingest.Overruns, err, s.Overruns, stats.String())
	}
	if s.ReadBuffer > 64<<10 {
		t.Errorf("the event buffer grew to %d bytes with no growth allowed", s.ReadBuffer)
	}
	converged(t, l, fw1, fw2, 60*time.Second)
	s = fw1.Snapshot().Ingest
	if s.Resyncs == 0 {
		t.Errorf("the caches converged without a resync after %d overruns: %+v", s.Overruns, s)
	}
	if got := len(dump(t, fw2, control.External)); got != burst {
		t.Errorf("fw2's external cache holds %d flows, want %d", got, burst)
	}
	t.Logf("fw1: %d overruns, %d resyncs, %d events of %d changes", s.Overruns, s.Resyncs, s.Events, 2*doomed+burst)
}
