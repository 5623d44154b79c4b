package engine_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/lab"
)

// ignoreUDP is a filter stage that keeps UDP flows off the link.
var ignoreUDP = config.FilterStage{Kind: config.StageProtocol, Policy: config.PolicyIgnore, Protocols: []uint8{17}}

// udpEntry is a made-up UDP flow, in the synthetic range.
func udpEntry(i int) lab.Entry {
	return lab.Entry{Proto: "udp", Src: netip.AddrFrom4([4]byte{198, 18, 200, byte(i)}), Dst: netip.AddrFrom4([4]byte{198, 19, 200, 1}), SPort: 5000, DPort: 53}
}

// external counts the flows of e's external cache whose line contains
// what.
func countLines(lines []string, what string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, what) {
			n++
		}
	}
	return n
}

// TestLabKernelFilter: with run_in = "kernel", an ignored protocol's
// events never reach the engine, so they never reach the link.
func TestLabKernelFilter(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt1 := labConfig(t, l, l.FW1, "ftfw", "udp", false)
	rt1.Filter.RunIn = config.RunInKernel
	rt1.Filter.Stages = append(rt1.Filter.Stages, ignoreUDP)
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, "ftfw", "udp", false))
	var entries []lab.Entry
	for i := range 20 {
		entries = append(entries, udpEntry(i), lab.Synthetic(i))
	}
	l.FW1.Insert(t, entries...)
	lab.Eventually(t, 10*time.Second, "the TCP flows on fw2", func() (bool, string) {
		n := countLines(dump(t, fw2, control.External), "tcp ")
		return n == 20, fmt.Sprint(n)
	})
	if n := countLines(dump(t, fw2, control.External), "udp "); n != 0 {
		t.Errorf("%d UDP flows crossed the link despite the kernel filter", n)
	}
	s := fw1.Snapshot()
	// Each TCP flow sends one NEW event; the UDP flows' were dropped in
	// the kernel, so the engine never counted them as filtered.
	if s.Ingest.Filtered != 0 || s.Ingest.Events > 40 {
		t.Errorf("fw1's input stage saw %d events, %d filtered in user space: the kernel filter did not run", s.Ingest.Events, s.Ingest.Filtered)
	}
}

// TestLabReloadFilter: a reload that adds a filter stage applies at once
// and empties no cache; a reload that changes the sync mode is refused
// and the running configuration stays.
func TestLabReloadFilter(t *testing.T) {
	for _, runIn := range []config.RunIn{config.RunInUser, config.RunInKernel} {
		t.Run(runIn.String(), func(t *testing.T) {
			l := lab.New(t, lab.Options{})
			rt1 := labConfig(t, l, l.FW1, "ftfw", "udp", false)
			rt1.Filter.RunIn = runIn
			fw1 := runEngine(t, l.FW1, rt1)
			fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, "ftfw", "udp", false))
			l.FW1.Insert(t, udpEntry(1), lab.Synthetic(1))
			lab.Eventually(t, 10*time.Second, "both flows on fw2", func() (bool, string) {
				n := len(dump(t, fw2, control.External))
				return n == 2, fmt.Sprint(n)
			})

			bad := rt1
			bad.Sync.Mode = config.SyncAlarm
			if err := fw1.Apply(bad); err == nil || !strings.Contains(err.Error(), "sync mode") {
				t.Fatalf("a reload changing the sync mode: %v, want a refusal naming it", err)
			}
			next := rt1
			next.Filter.Stages = append(append([]config.FilterStage(nil), rt1.Filter.Stages...), ignoreUDP)
			if err := fw1.Apply(next); err != nil {
				t.Fatalf("reload: %v", err)
			}
			if n := len(dump(t, fw1, control.Internal)); n != 2 {
				t.Fatalf("fw1's internal cache holds %d flows after the reload, want the 2 it had", n)
			}
			l.FW1.Insert(t, udpEntry(2), lab.Synthetic(2))
			lab.Eventually(t, 10*time.Second, "the new TCP flow on fw2", func() (bool, string) {
				n := countLines(dump(t, fw2, control.External), "tcp ")
				return n == 2, fmt.Sprint(n)
			})
			if n := countLines(dump(t, fw2, control.External), "udp "); n != 1 {
				t.Errorf("fw2 holds %d UDP flows, want only the one from before the reload", n)
			}
		})
	}
}

// TestLabPurge: `ctsync purge` (conntrackd -t) removes from the kernel,
// after purge_timeout, the flows the filter accepts, and empties the
// internal cache; a commit in between cancels it.
func TestLabPurge(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt := labConfig(t, l, l.FW1, "ftfw", "udp", false)
	rt.Filter.Stages = append(rt.Filter.Stages, ignoreUDP)
	fw1 := runEngine(t, l.FW1, rt)
	runEngine(t, l.FW2, labConfig(t, l, l.FW2, "ftfw", "udp", false))
	var entries []lab.Entry
	for i := range 10 {
		entries = append(entries, lab.Synthetic(i))
	}
	l.FW1.Insert(t, append(entries, udpEntry(1))...)
	ctx := context.Background()

	// A commit cancels a scheduled purge.
	if err := fw1.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fw1.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(rt.Sync.PurgeTimeout + 500*time.Millisecond)
	if n := l.FW1.Count(t); n != 11 {
		t.Fatalf("a purge cancelled by a commit removed flows: %d left, want 11", n)
	}

	if err := fw1.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := l.FW1.Count(t); n != 11 {
		t.Fatalf("the purge did not wait for purge_timeout: %d flows left at once", n)
	}
	lab.Eventually(t, 5*time.Second, "the purge", func() (bool, string) {
		n := l.FW1.Count(t)
		return n == 1, fmt.Sprintf("%d flows in fw1's kernel", n)
	})
	if got := l.FW1.Entries(t, udpEntry(1).Match()...); len(got) != 1 {
		t.Errorf("the purge removed a flow the filter ignores: %q", got)
	}
	lab.Eventually(t, 5*time.Second, "an empty internal cache", func() (bool, string) {
		n := len(dump(t, fw1, control.Internal))
		return n == 0, fmt.Sprint(n)
	})
}

// TestLabStartupResync: a node started after its peer learnt flows gets
// them at start-up (startup_resync), without any new event.
func TestLabStartupResync(t *testing.T) {
	for _, mode := range []string{"ftfw", "notrack"} {
		t.Run(mode, func(t *testing.T) {
			l := lab.New(t, lab.Options{})
			runEngine(t, l.FW1, labConfig(t, l, l.FW1, mode, "udp", false))
			var entries []lab.Entry
			for i := range 50 {
				entries = append(entries, lab.Synthetic(i))
			}
			l.FW1.Insert(t, entries...)
			rt2 := labConfig(t, l, l.FW2, mode, "udp", false)
			rt2.Sync.StartupResync = true
			fw2 := runEngine(t, l.FW2, rt2)
			lab.Eventually(t, 10*time.Second, "fw1's flows on fw2", func() (bool, string) {
				n := len(dump(t, fw2, control.External))
				return n == 50, fmt.Sprint(n)
			})
		})
	}
}

// TestLabNoExternalCache: without an external cache the backup writes
// what it receives straight into its kernel, destroys included.
func TestLabNoExternalCache(t *testing.T) {
	l := lab.New(t, lab.Options{})
	runEngine(t, l.FW1, labConfig(t, l, l.FW1, "ftfw", "udp", false))
	rt2 := labConfig(t, l, l.FW2, "ftfw", "udp", false)
	rt2.Caches.External.Enabled = false
	fw2 := runEngine(t, l.FW2, rt2)
	var entries []lab.Entry
	for i := range 20 {
		entries = append(entries, lab.Synthetic(i))
	}
	l.FW1.Insert(t, entries...)
	lab.Eventually(t, 10*time.Second, "fw1's flows in fw2's kernel", func() (bool, string) {
		n := l.FW2.Count(t)
		return n == 20, fmt.Sprint(n)
	})
	l.FW1.Exec(t, "conntrack", append([]string{"-D"}, entries[0].Match()...)...)
	lab.Eventually(t, 10*time.Second, "the destroy in fw2's kernel", func() (bool, string) {
		n := l.FW2.Count(t)
		return n == 19, fmt.Sprint(n)
	})
	if len(dump(t, fw2, control.Internal)) != 0 {
		t.Errorf("the injected flows entered fw2's internal cache: its events should be ignored")
	}
	// A commit has nothing to do, and succeeds: keepalived's script runs
	// it on every fail-over.
	if err := fw2.Commit(context.Background(), nil); err != nil {
		t.Errorf("commit without an external cache: %v, want nothing done and no error", err)
	}
	if n := l.FW2.Count(t); n != 19 {
		t.Errorf("fw2's kernel holds %d flows after the commit, want the 19 it had", n)
	}
}

// TestLabPolling: with poll_interval, no event socket is opened; the
// table is dumped every interval, and what changed is sent.
func TestLabPolling(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt1 := labConfig(t, l, l.FW1, "ftfw", "udp", false)
	rt1.Daemon.PollInterval = time.Second
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, "ftfw", "udp", false))
	var entries []lab.Entry
	for i := range 20 {
		entries = append(entries, lab.Synthetic(i))
	}
	l.FW1.Insert(t, entries...)
	lab.Eventually(t, 10*time.Second, "fw1's flows on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 20, fmt.Sprint(n)
	})
	l.FW1.Exec(t, "conntrack", append([]string{"-D"}, entries[0].Match()...)...)
	lab.Eventually(t, 10*time.Second, "the destroy on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 19, fmt.Sprint(n)
	})
	if s := fw1.Snapshot(); s.Ingest.Events != 0 || s.Ingest.Polls == 0 {
		t.Errorf("fw1 in polling mode: %d events, %d polls", s.Ingest.Events, s.Ingest.Polls)
	}
}

// TestLabReloadLinksAndLimits: a reload moves both nodes from UDP to
// multicast and lowers a cache limit; the caches and the sessions
// survive, and new flows cross the new link.
func TestLabReloadLinksAndLimits(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt1 := labConfig(t, l, l.FW1, "ftfw", "udp", false)
	rt2 := labConfig(t, l, l.FW2, "ftfw", "udp", false)
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, rt2)
	l.FW1.Insert(t, lab.Synthetic(1), lab.Synthetic(2))
	lab.Eventually(t, 10*time.Second, "two flows on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 2, fmt.Sprint(n)
	})
	for _, x := range []struct {
		e  interface{ Apply(config.Runtime) error }
		fw *lab.Node
		rt config.Runtime
	}{{fw1, l.FW1, rt1}, {fw2, l.FW2, rt2}} {
		next := x.rt
		next.Links = labConfig(t, l, x.fw, "ftfw", "multicast", false).Links
		next.Caches.External.Limit = 3
		// The new links' sockets belong in the firewall's namespace.
		if err := x.fw.Do(func() error { return x.e.Apply(next) }); err != nil {
			t.Fatalf("%s: reload: %v", x.fw.Role, err)
		}
	}
	if s := fw2.Snapshot(); len(s.Links) != 1 || s.Links[0].Transport.String() != "multicast" {
		t.Fatalf("fw2's links after the reload: %+v", s.Links)
	}
	if n := len(dump(t, fw2, control.External)); n != 2 {
		t.Fatalf("fw2's external cache holds %d flows after the reload, want the 2 it had", n)
	}
	l.FW1.Insert(t, lab.Synthetic(3), lab.Synthetic(4))
	lab.Eventually(t, 10*time.Second, "the new limit to stop fw2's external cache at 3", func() (bool, string) {
		s := fw2.Snapshot()
		return s.External.Active == 3 && s.External.CreateNoSpace >= 1, fmt.Sprintf("%+v", *s.External)
	})
}

// TestLabNoInternalCache: NOTRACK without an internal cache sends kernel
// events straight to the link; a peer's resync gets the kernel's table;
// its "internal" dump lists the kernel's flows; a flush of the internal
// cache leaves the kernel alone (conntrackd would empty it).
func TestLabNoInternalCache(t *testing.T) {
	l := lab.New(t, lab.Options{})
	rt1 := labConfig(t, l, l.FW1, "notrack", "udp", false)
	rt1.Caches.Internal.Enabled = false
	fw1 := runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, "notrack", "udp", false))
	var entries []lab.Entry
	for i := range 30 {
		entries = append(entries, lab.Synthetic(i))
	}
	l.FW1.Insert(t, entries...)
	lab.Eventually(t, 10*time.Second, "fw1's flows on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 30, fmt.Sprint(n)
	})
	l.FW1.Exec(t, "conntrack", append([]string{"-D"}, entries[0].Match()...)...)
	lab.Eventually(t, 10*time.Second, "the destroy on fw2", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 29, fmt.Sprint(n)
	})
	if n := len(dump(t, fw1, control.Internal)); n != 29 {
		t.Errorf("fw1's internal dump (the kernel's table) lists %d flows, want 29", n)
	}
	ctx := context.Background()
	if err := fw1.Flush(ctx, control.Internal); err == nil {
		t.Errorf("flush internal without an internal cache succeeded")
	}
	if n := l.FW1.Count(t); n != 29 {
		t.Fatalf("fw1's kernel holds %d flows after flush internal, want 29", n)
	}
	if err := fw2.Flush(ctx, control.External); err != nil {
		t.Fatal(err)
	}
	if err := fw2.Resync(ctx, false, nil); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 10*time.Second, "fw1's kernel table on fw2 after a resync", func() (bool, string) {
		n := len(dump(t, fw2, control.External))
		return n == 29, fmt.Sprint(n)
	})
}
