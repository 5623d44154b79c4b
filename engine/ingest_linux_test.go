package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// kernelIngest is an Ingest on a namespace's real table, feeding a fake
// sink, with a writer of our own (its events must be ignored).
type kernelIngest struct {
	ns     *netnstest.NetNS
	in     *Ingest
	sink   *fakeSink
	writer *ctnl.Writer
}

// startKernelIngest subscribes in ns, then runs an Ingest until the test
// ends; before is called between the subscription and Run.
func startKernelIngest(t *testing.T, ns *netnstest.NetNS, s IngestSettings, before func()) *kernelIngest {
	t.Helper()
	k := &kernelIngest{ns: ns, sink: newFakeSink()}
	cfg, err := s.EventsConfig()
	if err != nil {
		t.Fatal(err)
	}
	var events *ctnl.Events
	var table *ctnl.Table
	err = ns.Do(func() error {
		var err error
		if events, err = ctnl.ListenEvents(cfg); err != nil {
			return err
		}
		if table, err = ctnl.OpenTable(ctnl.TableConfig{}); err != nil {
			return err
		}
		k.writer, err = ctnl.NewWriter(ctnl.WriterConfig{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { table.Close(); k.writer.Close() })
	k.in, err = NewIngest(s, IngestIO{Clock: SystemClock{}, Events: events, Table: table, Sink: k.sink, OwnPorts: []uint32{k.writer.PortID()}})
	if err != nil {
		events.Close()
		t.Fatal(err)
	}
	if before != nil {
		before()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return k
}

// conntrack runs conntrack(8) in the namespace: another program's write.
func (k *kernelIngest) conntrack(t *testing.T, args ...string) {
	t.Helper()
	k.ns.Exec(t, "conntrack", args...)
}

// insert is conntrack -I of a flow from 198.18.0.1 to 198.18.1.<host>.
func (k *kernelIngest) insert(t *testing.T, proto string, host, sport int) {
	t.Helper()
	args := []string{"-I", "-p", proto, "-s", "198.18.0.1", "-d", fmt.Sprintf("198.18.1.%d", host),
		"--sport", fmt.Sprint(sport), "--dport", "80", "-t", "100"}
	if proto == "tcp" {
		args = append(args, "--state", "ESTABLISHED")
	}
	k.conntrack(t, args...)
}

func key(proto uint8, host, sport int) string {
	return flowKey(flowOf(proto, "198.18.0.1", fmt.Sprintf("198.18.1.%d", host), uint16(sport), 80))
}

// waitFor waits until the sink's log has a line starting with prefix.
func (k *kernelIngest) waitFor(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		k.sink.mu.Lock()
		found := slices.ContainsFunc(k.sink.log, func(l string) bool { return strings.HasPrefix(l, prefix) })
		k.sink.mu.Unlock()
		if found {
			return
		}
		select {
		case <-k.sink.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %q; sink got %q", prefix, k.sink.takeLog())
		}
	}
}

func origOf(proto uint8, host, sport int) string {
	return flowOf(proto, "198.18.0.1", fmt.Sprintf("198.18.1.%d", host), uint16(sport), 80).Orig.String()
}

// Against a real table, with the filter in user space: the initial dump
// brings the flows that were there before, filtered; conntrack(8)'s new,
// update and destroy reach the sink; UDP is filtered; the flows our own
// writer creates never arrive.
func TestKernelIngestUserFilter(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	s := IngestSettings{EventIterationLimit: 100, Filter: ignoreUDP, OverrunResync: 30 * time.Second}
	k := startKernelIngest(t, ns, s, func() {
		k0 := &kernelIngest{ns: ns}
		k0.insert(t, "tcp", 1, 1000)
		k0.insert(t, "udp", 2, 1000)
	})
	k.waitFor(t, "end startup")
	if got, want := k.sink.keys(), []string{key(6, 1, 1000)}; !slices.Equal(got, want) {
		t.Errorf("after the initial dump the sink holds %q, want %q", got, want)
	}

	k.insert(t, "tcp", 3, 1000)
	k.waitFor(t, "new "+origOf(6, 3, 1000))
	k.conntrack(t, "-U", "-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.1.3", "--sport", "1000", "--dport", "80", "-m", "7")
	k.waitFor(t, "update "+origOf(6, 3, 1000))
	k.conntrack(t, "-D", "-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.1.3")
	k.waitFor(t, "destroy "+origOf(6, 3, 1000))

	k.insert(t, "udp", 4, 1000)
	own := tcp("198.18.1.5", 1000)
	errs := make([]error, 1)
	if err := k.writer.Apply([]ctnl.Request{{Op: ctnl.OpCreate, Flow: own}}, errs); err != nil || errs[0] != nil {
		t.Fatalf("writer: %v, %v", err, errs[0])
	}
	// A marker after both: once it is in, they were handled.
	k.insert(t, "tcp", 6, 1000)
	k.waitFor(t, "new "+origOf(6, 6, 1000))
	for _, l := range k.sink.takeLog() {
		if strings.Contains(l, own.Orig.String()) || strings.Contains(l, origOf(17, 4, 1000)) {
			t.Errorf("sink got %q: our own write or a filtered flow", l)
		}
	}
	st := k.in.Stats()
	// conntrack -I may cause more than one event per flow.
	if st.OwnOrigin != 1 || st.Filtered == 0 || st.Dumped != 1 || st.DumpFiltered != 1 {
		t.Errorf("stats %+v; want 1 of our own origin, the UDP events and 1 dumped entry filtered, 1 dumped", st)
	}
}

// With the filter in the kernel, the ignored flows' events never reach
// the daemon at all; the initial dump is still filtered in user space.
func TestKernelIngestKernelFilter(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	s := IngestSettings{EventIterationLimit: 100, Filter: ignoreUDP, FilterInKernel: true}
	k := startKernelIngest(t, ns, s, func() {
		(&kernelIngest{ns: ns}).insert(t, "udp", 2, 1000)
	})
	k.waitFor(t, "end startup")
	k.insert(t, "udp", 4, 1000)
	k.insert(t, "tcp", 6, 1000)
	k.waitFor(t, "new "+origOf(6, 6, 1000))
	if got, want := k.sink.keys(), []string{key(6, 6, 1000)}; !slices.Equal(got, want) {
		t.Errorf("sink holds %q, want %q", got, want)
	}
	if st := k.in.Stats(); st.Events != 1 || st.Filtered != 0 || st.DumpFiltered != 1 {
		t.Errorf("stats %+v; want 1 event received (the UDP one dropped in the kernel), 1 dumped entry filtered", st)
	}
}

// Subscribing before dumping: flows created by another program while the
// stage starts (some before its dump, some during, some after) all end up
// in the sink, and the sink holds exactly the table.
func TestKernelIngestNothingFallsBetween(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	var other *ctnl.Writer
	if err := ns.Do(func() (err error) { other, err = ctnl.NewWriter(ctnl.WriterConfig{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	const n = 3000
	write := func(from, to int) error {
		for i := from; i < to; i += 50 {
			var reqs []ctnl.Request
			for j := i; j < min(i+50, to); j++ {
				reqs = append(reqs, ctnl.Request{Op: ctnl.OpCreate, Flow: manyTCP(j)})
			}
			errs := make([]error, len(reqs))
			if err := other.Apply(reqs, errs); err != nil {
				return err
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(0, n/2); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	s := IngestSettings{EventIterationLimit: 100, ReadBuffer: 4 << 20, ReadBufferMax: 4 << 20}
	k := startKernelIngest(t, ns, s, func() {
		go func() { wrote <- write(n/2, n) }()
	})
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(k.sink.keys()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := k.sink.keys()
	var want []string
	for i := range n {
		want = append(want, flowKey(manyTCP(i)))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("sink holds %d flows, want the %d of the table; overruns %d", len(got), n, k.in.Stats().Overruns)
	}
	t.Logf("stats: %+v", k.in.Stats())
}

func manyTCP(i int) *ctnl.Flow {
	f := tcp(fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250), uint16(10000+i))
	f.Timeout = 600
	return f
}

// The stage's start-up check turns on events for every flow in a
// namespace whose setting is the kernel's default, 2.
func TestKernelEnableConntrackEvents(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	var was string
	err := ns.Do(func() error {
		// Loads the conntrack modules, which create the sysctl.
		ev, err := ctnl.ListenEvents(ctnl.EventsConfig{Flows: true})
		if err != nil {
			return err
		}
		ev.Close()
		if err := os.WriteFile(ConntrackEventsSysctl, []byte("2"), 0); err != nil {
			return err
		}
		if was, err = EnableConntrackEvents(ConntrackEventsSysctl); err != nil {
			return err
		}
		b, err := os.ReadFile(ConntrackEventsSysctl)
		if err == nil && strings.TrimSpace(string(b)) != "1" {
			err = fmt.Errorf("the sysctl is %q after the check, want 1", b)
		}
		return err
	})
	if err != nil || was != "2" {
		t.Errorf("EnableConntrackEvents in a namespace at 2: found %q, %v; want 2 and the sysctl at 1", was, err)
	}
}

// An event socket too small for a burst overruns; the stage resyncs after
// OverrunResync and the sink ends up holding exactly the table, the flows
// whose events were lost included, after a burst of creations and after
// one of deletions.
func TestKernelIngestOverrunResync(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	var other *ctnl.Writer
	if err := ns.Do(func() (err error) { other, err = ctnl.NewWriter(ctnl.WriterConfig{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	s := IngestSettings{EventIterationLimit: 100, ReadBuffer: 4096, ReadBufferMax: 4096, OverrunResync: 200 * time.Millisecond}
	k := startKernelIngest(t, ns, s, nil)
	k.waitFor(t, "end startup")
	apply := func(op ctnl.Op, from, to int) {
		t.Helper()
		var reqs []ctnl.Request
		for i := from; i < to; i++ {
			reqs = append(reqs, ctnl.Request{Op: op, Flow: manyTCP(i)})
		}
		errs := make([]error, len(reqs))
		if err := other.Apply(reqs, errs); err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	const n = 2000
	for _, step := range []struct {
		op       ctnl.Op
		from, to int
		left     int
	}{{ctnl.OpCreate, 0, n, n}, {ctnl.OpDelete, 0, n / 2, n / 2}} {
		before := k.in.Stats()
		apply(step.op, step.from, step.to)
		var want []string
		for i := n - step.left; i < n; i++ {
			want = append(want, flowKey(manyTCP(i)))
		}
		slices.Sort(want)
		deadline := time.Now().Add(10 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			if got = k.sink.keys(); slices.Equal(got, want) && k.in.Stats().Resyncs > before.Resyncs {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		st := k.in.Stats()
		if st.Overruns == before.Overruns {
			t.Fatalf("%s of %d flows: no overrun with a 4 KiB buffer, nothing to test; stats %+v", step.op, step.to-step.from, st)
		}
		if !slices.Equal(got, want) || st.Resyncs == before.Resyncs {
			t.Errorf("%s: sink holds %d flows, want the table's %d; stats %+v", step.op, len(got), len(want), st)
		}
	}
}
