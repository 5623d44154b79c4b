package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// dumpLines lists a cache of d (`ctsync dump internal|external`).
func (d *labDaemon) dumpLines(t *testing.T, cache string) []string {
	t.Helper()
	var lines []string
	for l := range strings.Lines(d.mustCtl(t, "dump", cache)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// synthetic keeps the lines of the made-up flows (lab.SyntheticFlow):
// a kernel table also holds the sync link's own flow.
func synthetic(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "src=198.18.") || strings.Contains(l, "src=198.19.") {
			out = append(out, l)
		}
	}
	return out
}

// sameFlows fails t with a readable diff unless the two listings hold the
// same flows.
func sameFlows(t *testing.T, aName string, a []string, bName string, b []string) {
	t.Helper()
	if diff := lab.DiffFlows(aName, a, bName, b, 10); diff != "" {
		t.Fatal(diff)
	}
}

// TestLabFaultKernelTableFull is issue 10's "kernel table full": the
// backup's external cache holds more flows than its kernel has room for
// (net.netfilter.nf_conntrack_max) when keepalived runs `ctsync commit`.
// The commit reports it (non-zero exit, how many, why), stats count it,
// the flows that fit are committed, and the external cache keeps every
// flow, so that a commit after raising the limit writes the rest.
//
// The limit is the machine's, not the namespace's (a child namespace
// cannot set it): the test lowers it for the commit alone, under
// netnstest's lock, no lower than netnstest.ConntrackMaxFloor.
func TestLabFaultKernelTableFull(t *testing.T) {
	l := lab.New(t, lab.Options{})
	fw1 := startDaemon(t, l, l.FW1, "ftfw")
	fw2 := startDaemon(t, l, l.FW2, "ftfw")
	limit := netnstest.ConntrackMaxFloor
	n := limit + 2000
	l.FW1.Fill(t, n)
	lab.Eventually(t, 60*time.Second, fmt.Sprintf("%d flows in fw2's external cache", n), func() (bool, string) {
		got := number(fw2.stats(t), "caches", "external", "active")
		return got == n, fmt.Sprintf("fw2 external: %d", got)
	})
	sameFlows(t, "fw1's internal cache", fw1.dumpLines(t, "internal"), "fw2's external cache", fw2.dumpLines(t, "external"))

	before := l.FW2.Count(t)
	restore := netnstest.LowerConntrackMax(t, limit)
	out, err := fw2.ctl("commit")
	restore()
	room := limit - before
	refused := n - room
	if err == nil {
		t.Fatalf("ctsync commit into a table with room for %d of %d flows succeeded:\n%s", room, n, out)
	}
	for _, want := range []string{fmt.Sprintf("%d of %d flows", refused, n), "table is full", "nf_conntrack_max"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ctsync commit's error does not say %q:\n%v", want, err)
		}
	}
	s := fw2.stats(t)
	if got := number(s, "operations", "commit_failed"); got != refused {
		t.Errorf("stats: commit_failed %d, want %d", got, refused)
	}
	if got := number(s, "operations", "committed"); got != room {
		t.Errorf("stats: committed %d, want %d", got, room)
	}
	if got := l.FW2.Count(t); got != limit {
		t.Errorf("fw2's kernel tracks %d flows after the commit, want %d (full)", got, limit)
	}
	// Nothing dropped: the external cache still holds every flow.
	ext := fw2.dumpLines(t, "external")
	sameFlows(t, "fw1's internal cache", fw1.dumpLines(t, "internal"), "fw2's external cache after the failed commit", ext)

	// With the limit back, a second commit writes the rest.
	fw2.mustCtl(t, "commit")
	sameFlows(t, "fw2's external cache", ext, "fw2's kernel table", synthetic(l.FW2.Entries(t)))
}
