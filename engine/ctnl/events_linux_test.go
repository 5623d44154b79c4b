package ctnl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu       sync.Mutex
	events   []Event
	overruns []int
	skipped  []error
	notify   chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Event(ev *Event) {
	r.mu.Lock()
	r.events = append(r.events, *ev)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Overrun(n int) {
	r.mu.Lock()
	r.overruns = append(r.overruns, n)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Skipped(err error) {
	r.mu.Lock()
	r.skipped = append(r.skipped, err)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits up to 5s for cond, called with r locked.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; have %d events, overruns %v, skipped %v", what, len(r.events), r.overruns, r.skipped)
		}
	}
}

// listen opens an event receiver in k's namespace and runs it until the
// test ends.
func (k *kernelNS) listen(t *testing.T, cfg EventsConfig, start bool) (*Events, *recorder) {
	t.Helper()
	var ev *Events
	if err := k.ns.Do(func() error {
		var err error
		ev, err = ListenEvents(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	done := make(chan error, 1)
	run := func() { done <- ev.Run(r) }
	if start {
		go run()
	}
	t.Cleanup(func() {
		ev.Close()
		if !start {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after Close: %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after Close")
		}
	})
	if !start {
		k.runLater = func() {
			start = true
			go run()
		}
	}
	return ev, r
}

// The engine ignores the events of its own writes by port id: events
// carry the writer's port id, another tool's, or 0 for the kernel's own
// traffic; new, update and destroy of a flow arrive in order.
func TestKernelEventsOrigin(t *testing.T) {
	k := newKernelNS(t)
	_, r := k.listen(t, EventsConfig{Flows: true}, true)

	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	k.mustApply(t, OpCreate, f)
	f.Timeout = 1000
	k.mustApply(t, OpUpdate, f)
	k.mustApply(t, OpDelete, f)
	r.waitFor(t, "three events", func() bool { return len(r.events) >= 3 })
	r.mu.Lock()
	for i, want := range []EventType{EventNew, EventUpdate, EventDestroy} {
		ev := r.events[i]
		if ev.Type != want || ev.Flow.Orig != f.Orig || ev.PortID != k.w.PortID() {
			t.Errorf("event %d: %s %s from port %d, want %s %s from the writer's port %d", i, ev.Type, ev.Flow.Orig, ev.PortID, want, f.Orig, k.w.PortID())
		}
	}
	r.events = nil
	r.mu.Unlock()

	// Another tool's write.
	k.ns.Exec(t, "conntrack", "-I", "-p", "udp", "-s", "198.18.0.5", "-d", "198.18.1.5", "--sport", "5", "--dport", "6", "-t", "100")
	r.waitFor(t, "the conntrack -I event", func() bool { return len(r.events) >= 1 })
	r.mu.Lock()
	if ev := r.events[0]; ev.Type != EventNew || ev.PortID == 0 || ev.PortID == k.w.PortID() {
		t.Errorf("conntrack -I: %s from port %d, want new from a port neither 0 nor the writer's %d", ev.Type, ev.PortID, k.w.PortID())
	}
	r.events = nil
	r.mu.Unlock()

	// Traffic: a datagram over loopback. A namespace tracks connections
	// only once a rule needs it.
	k.ns.Exec(t, "nft", "add table inet t; add chain inet t c { type filter hook output priority 0; }; add rule inet t c ct state new counter")
	if err := k.ns.Do(func() error {
		c, err := net.Dial("udp", "127.0.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the traffic's event", func() bool { return len(r.events) >= 1 })
	r.mu.Lock()
	if ev := r.events[0]; ev.Type != EventNew || ev.PortID != 0 || ev.Flow.Orig.Dst != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("traffic: %s %s from port %d, want new to 127.0.0.1 from port 0", ev.Type, ev.Flow.Orig, ev.PortID)
	}
	r.mu.Unlock()
}

// manyFlow is the i-th flow of createMany.
func manyFlow(i int) *Flow {
	return tcpFlow("198.18.0.1", fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250), uint16(10000+i), 80)
}

// createMany creates n flows in batches.
func (k *kernelNS) createMany(t *testing.T, n int, mark uint32) {
	t.Helper()
	reqs := make([]Request, n)
	for i := range reqs {
		f := manyFlow(i)
		f.Mark = mark
		reqs[i] = Request{Op: OpCreate, Flow: f}
	}
	errs := make([]error, n)
	if err := k.w.Apply(reqs, errs); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// An overrun is reported, not fatal: the buffer grows, reading goes on.
// With NoENOBUFS it is not reported at all, and events are lost silently.
func TestKernelEventsOverrun(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       EventsConfig
		wantGrown int
	}{
		{"grows", EventsConfig{Flows: true, ReadBuffer: 4096, ReadBufferMax: 1 << 20}, 8192},
		{"at its maximum", EventsConfig{Flows: true, ReadBuffer: 4096, ReadBufferMax: 4096}, 4096},
		{"no ENOBUFS", EventsConfig{Flows: true, ReadBuffer: 4096, NoENOBUFS: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelNS(t)
			ev, r := k.listen(t, tc.cfg, false)
			const n = 1000
			k.createMany(t, n, 0) // nobody reads: the queue overflows
			k.runLater()
			// Events sent after the overrun still arrive, once the
			// reader has made room in the queue: delete flows until
			// the destruction of one is seen.
			deleted := false
			for i := 0; i < 50 && !deleted; i++ {
				f := manyFlow(i)
				k.mustApply(t, OpDelete, f)
				deadline := time.Now().Add(100 * time.Millisecond)
				for !deleted && time.Now().Before(deadline) {
					r.mu.Lock()
					for _, ev := range r.events {
						deleted = deleted || ev.Type == EventDestroy && ev.Flow.Orig == f.Orig
					}
					r.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}
			if !deleted {
				t.Fatal("no destroy event came through after the overrun")
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.events) > n/2 {
				t.Errorf("%d events of %d came through a 4 KiB buffer: no overrun to test", len(r.events), n+1)
			}
			if tc.wantGrown == 0 {
				if len(r.overruns) != 0 {
					t.Errorf("overruns %v reported with NoENOBUFS", r.overruns)
				}
				return
			}
			if len(r.overruns) != 1 || r.overruns[0] != tc.wantGrown || ev.ReadBuffer() != tc.wantGrown {
				t.Errorf("overruns %v, buffer %d; want one, with the buffer at %d", r.overruns, ev.ReadBuffer(), tc.wantGrown)
			}
		})
	}
}

// Expectation events decode into Expect.
func TestKernelEventsExpect(t *testing.T) {
	k := newKernelNS(t)
	_, r := k.listen(t, EventsConfig{Expectations: true}, true)
	master := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21)
	master.Helper = "ftp"
	k.mustApply(t, OpCreate, master)
	exp := conntrack.Expect{
		Timeout: 100,
		TupleMaster: conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: master.Orig.Src, DestinationAddress: master.Orig.Dst},
			Proto: conntrack.ProtoTuple{Protocol: protoTCP, SourcePort: 40000, DestinationPort: 21},
		},
		Tuple: conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: master.Orig.Src, DestinationAddress: master.Orig.Dst},
			Proto: conntrack.ProtoTuple{Protocol: protoTCP, SourcePort: 0, DestinationPort: 2000},
		},
		Mask: conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: netip.MustParseAddr("255.255.255.255"), DestinationAddress: netip.MustParseAddr("255.255.255.255")},
			Proto: conntrack.ProtoTuple{Protocol: protoTCP, SourcePort: 0, DestinationPort: 0xffff},
		},
		// ti-mo sends the name as is; the kernel wants a NUL.
		HelpName: "ftp\x00",
	}
	if err := k.ns.Do(func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.CreateExpect(exp)
	}); err != nil {
		t.Fatalf("create expectation: %v", err)
	}
	r.waitFor(t, "the expectation event", func() bool { return len(r.events) >= 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events[0]
	if ev.Type != EventExpNew || ev.Expect == nil || ev.Expect.Tuple.DstPort != 2000 || ev.Expect.Master.DstPort != 21 || ev.Expect.Helper != "ftp" {
		t.Errorf("got %s %+v, want a new expectation of port 2000 for the ftp master", ev.Type, ev.Expect)
	}

	var dumped []Expect
	err := k.table.DumpExpect(FamilyAll, func(ev *Event) error {
		dumped = append(dumped, *ev.Expect)
		return nil
	}, func(err error) { t.Errorf("skipped: %v", err) })
	if err != nil || len(dumped) != 1 || dumped[0].Tuple.DstPort != 2000 || dumped[0].Helper != "ftp" {
		t.Errorf("expectation dump: %+v, %v; want the one expectation", dumped, err)
	}
}
