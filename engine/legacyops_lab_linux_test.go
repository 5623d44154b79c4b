package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/lab"
)

// TestLabLegacyOps: the operations conntrackd's command line adds. -F
// deletes what the filter accepts and keeps what it ignores; -c ct
// commits the flows; -c expect without expectation sync is refused and
// commits nothing; -i expect lists nothing then; -i -x lists one <flow>
// per flow; -s SECTION sends that section only.
func TestLabLegacyOps(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt1 := labConfig(t, l, l.FW1, "ftfw", "udp", false)
	rt1.Filter.Stages = append(rt1.Filter.Stages, ignoreUDP)
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, "ftfw", "udp", false))
	var entries []lab.Entry
	for i := range 10 {
		entries = append(entries, lab.Synthetic(i))
	}
	l.FW1.Insert(t, append(entries, udpEntry(1))...)
	ctx := context.Background()

	lab.Eventually(t, 10*time.Second, "the TCP flows on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 10, fmt.Sprint(n)
	})

	// -i -x: one element a line, in the internal cache's order.
	var xml []string
	if err := fw1.Dump(ctx, control.Internal, control.XML, func(b []byte) error { xml = append(xml, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(xml) != 10 || !strings.HasPrefix(xml[0], `<flow><meta direction="original">`) {
		t.Errorf("-i -x: %d lines, want 10 <flow> elements: %q", len(xml), xml)
	}
	// -i expect without expectation sync: nothing, as conntrackd.
	n := 0
	if err := fw1.DumpExpect(ctx, control.Internal, control.Text, func([]byte) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("-i expect: %d lines, %v; want none", n, err)
	}
	// -s cache: only the extended cache counters.
	var stats []string
	if err := fw1.StatsSection(ctx, control.SectionCache, func(b []byte) error { stats = append(stats, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stats) == 0 || !strings.HasPrefix(stats[0], "cache:internal") || strings.Contains(strings.Join(stats, "\n"), "traffic processed") {
		t.Errorf("-s cache:\n%s", strings.Join(stats, "\n"))
	}

	// -c expect: refused, nothing written; -c ct: the flows.
	if err := fw2.CommitTable(ctx, control.Expectations, nil); err == nil {
		t.Error("-c expect without expectation sync: no error")
	}
	if n := l.FW2.Count(t); n != 0 {
		t.Fatalf("-c expect wrote %d flows", n)
	}
	if err := fw2.CommitTable(ctx, control.Conntracks, nil); err != nil {
		t.Fatal(err)
	}
	if n := l.FW2.Count(t); n != 10 {
		t.Errorf("-c ct: %d flows in fw2's kernel, want 10", n)
	}

	// -F: the TCP flows go, the UDP one the filter ignores stays.
	if err := fw1.FlushKernel(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n := l.FW1.Count(t); n != 1 {
		t.Errorf("-F: %d flows left in fw1's kernel, want the ignored one", n)
	}
	if got := l.FW1.Entries(t, udpEntry(1).Match()...); len(got) != 1 {
		t.Errorf("-F removed a flow the filter ignores: %q", got)
	}
}
