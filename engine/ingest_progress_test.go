package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
)

// countedTable is a kernel table that says how many flows it holds, as
// the kernel's global statistics do, here with a count off by extra (flows
// gone between the count and the dump).
type countedTable struct {
	*fakeTable
	extra int
}

func (t countedTable) StatsGlobal() (ctnl.Stats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return ctnl.Stats{Entries: uint32(len(t.flows) + t.extra), MaxEntries: 1 << 20}, nil
}

// An operator's dump (resync --kernel) reports the flows it has read, of
// the kernel's count when the table gives one, every few thousand flows,
// and ends at 100% once complete; a failed dump ends where it stopped.
func TestIngestDumpProgress(t *testing.T) {
	const n = 10000
	flows := make([]*ctnl.Flow, n)
	for i := range flows {
		// Filtered flows are read too: every tenth is UDP.
		proto := uint8(6)
		if i%10 == 0 {
			proto = 17
		}
		flows[i] = flowOf(proto, "198.18.0.1", "198.18.1.9", uint16(1024+i), 80)
	}
	p := func(done, total int64) control.Progress {
		return control.Progress{Stage: DumpStage, Done: done, Total: total}
	}
	tests := []struct {
		name  string
		table TableDumper
		want  []control.Progress
	}{
		{"counted", countedTable{newFakeTable(flows...), 50},
			[]control.Progress{p(0, n+50), p(4096, n+50), p(8192, n+50), p(n, n)}},
		{"not counted", newFakeTable(flows...),
			[]control.Progress{p(0, 0), p(4096, 0), p(8192, 0), p(n, 0)}},
		{"failed", countedTable{&fakeTable{flows: newFakeTable(flows...).flows, fail: 5000}, 0},
			[]control.Progress{p(0, n), p(4096, n), p(5000, n)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, Filter: ignoreUDP}, newFakeTable())
			x.in.io.Table = tt.table
			var got []control.Progress
			errc := make(chan error, 1)
			go func() { errc <- x.in.Dump(context.Background(), func(p control.Progress) { got = append(got, p) }) }()
			x.turn(t)
			err := <-errc
			if (err != nil) != (tt.name == "failed") {
				t.Errorf("Dump: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("progress %v, want %v", got, tt.want)
			}
			// Dumps nobody asked for report nothing.
			got = nil
			x.in.dump(x.clock.Now(), DumpResync)
			if len(got) != 0 {
				t.Errorf("a resync after an overrun reported %v", got)
			}
		})
	}
}

// A flow the dump skips (here, one without addresses) counts once in
// the progress, as every flow read does: the dump ends at the number of
// entries read, not above it.
func TestIngestDumpProgressSkipped(t *testing.T) {
	const n = 10000
	flows := make([]*ctnl.Flow, n)
	for i := range flows {
		if i%10 == 0 {
			flows[i] = &ctnl.Flow{} // no addresses: skipped
			continue
		}
		flows[i] = flowOf(6, "198.18.0.1", "198.18.1.9", uint16(1024+i), 80)
	}
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10}, newFakeTable())
	x.in.io.Table = countedTable{newFakeTable(flows...), 0}
	var got []control.Progress
	errc := make(chan error, 1)
	go func() { errc <- x.in.Dump(context.Background(), func(p control.Progress) { got = append(got, p) }) }()
	x.turn(t)
	if err := <-errc; err != nil {
		t.Fatalf("Dump: %v", err)
	}
	p := func(done int64) control.Progress { return control.Progress{Stage: DumpStage, Done: done, Total: n} }
	if want := []control.Progress{p(0), p(4096), p(8192), p(n)}; !slices.Equal(got, want) {
		t.Errorf("progress %v, want %v", got, want)
	}
	if s := x.in.Stats(); s.Skipped != n/10 {
		t.Errorf("%d skipped, want %d", s.Skipped, n/10)
	}
}
