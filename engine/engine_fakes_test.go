package engine

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
)

// memWriter is a kernel socket that records what it is asked to write.
// After close (the engine's Close), a write is a use of a closed socket:
// counted in late.
type memWriter struct {
	port   uint32
	mu     sync.Mutex
	reqs   int
	flows  []ctnl.Flow // the flows written, in order
	closed bool
	late   int
}

func (w *memWriter) Apply(reqs []ctnl.Request, errs []error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.late += len(reqs)
		return net.ErrClosed
	}
	w.reqs += len(reqs)
	for _, r := range reqs {
		if r.Flow != nil {
			w.flows = append(w.flows, *r.Flow)
		}
	}
	for i := range errs[:len(reqs)] {
		errs[i] = nil
	}
	return nil
}

func (w *memWriter) PortID() uint32 { return w.port }

func (w *memWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

func (w *memWriter) written() []ctnl.Flow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ctnl.Flow(nil), w.flows...)
}

func (w *memWriter) lateWrites() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.late
}

// memPeer is a sync link: Recv returns what deliver queues, Send
// counts; its datagrams are maxDatagram bytes at most.
type memPeer struct {
	in          chan []byte
	done        chan struct{}
	once        sync.Once
	sent        atomic.Int64
	maxDatagram int
}

func newMemPeer(maxDatagram int) *memPeer {
	return &memPeer{in: make(chan []byte, 16), done: make(chan struct{}), maxDatagram: maxDatagram}
}

func (p *memPeer) deliver(b []byte) { p.in <- b }

func (p *memPeer) Send(b []byte) error {
	select {
	case <-p.done:
		return net.ErrClosed
	default:
	}
	p.sent.Add(1)
	return nil
}

func (p *memPeer) Recv(buf []byte) (int, int, error) {
	select {
	case b := <-p.in:
		return copy(buf, b), 0, nil
	case <-p.done:
		return 0, -1, fmt.Errorf("fake peer: %w", net.ErrClosed)
	}
}

func (p *memPeer) Valid(int)                 {}
func (p *memPeer) Malformed(int)             {}
func (p *memPeer) MaxDatagram() int          { return p.maxDatagram }
func (p *memPeer) Status() []link.LinkStatus { return nil }
func (p *memPeer) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// gatedTable is a fakeTable whose flow dumps, once shut, wait for open;
// it counts the dumps and how many ran at once.
type gatedTable struct {
	*fakeTable
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{} // poked when a dump starts
	dumps   int
}

func newGatedTable(flows ...*ctnl.Flow) *gatedTable {
	return &gatedTable{fakeTable: newFakeTable(flows...), entered: make(chan struct{}, 64)}
}

func (t *gatedTable) shut() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gate = make(chan struct{})
}

func (t *gatedTable) open() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gate != nil {
		close(t.gate)
		t.gate = nil
	}
}

func (t *gatedTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dumps
}

func (t *gatedTable) Dump(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error {
	t.mu.Lock()
	t.dumps++
	gate := t.gate
	t.mu.Unlock()
	select {
	case t.entered <- struct{}{}:
	default:
	}
	if gate != nil {
		<-gate
	}
	return t.fakeTable.Dump(family, fn, skipped)
}

// Get finds a flow of the table by its original tuple.
func (t *gatedTable) Get(orig ctnl.Tuple, zone uint16) (ctnl.Flow, error) {
	t.fakeTable.mu.Lock()
	defer t.fakeTable.mu.Unlock()
	for _, f := range t.flows {
		if f.Orig == orig && f.Zone == zone {
			return f, nil
		}
	}
	return ctnl.Flow{}, fmt.Errorf("get: %w", syscall.ENOENT)
}

// engineOnFakes is an engine on fakes, with what drives it.
type engineOnFakes struct {
	*Engine
	clock  *fakeClock
	events *fakeSource
	table  *gatedTable
	commit *memWriter
	inject *memWriter
	peer   *memPeer
}

// newEngineOnFakes composes an engine from src over fakes; the table holds
// flows.
func newEngineOnFakes(t *testing.T, src string, flows ...*ctnl.Flow) *engineOnFakes {
	t.Helper()
	rt := runtimeOf(t, src)
	f := &engineOnFakes{
		clock:  newFakeClock(),
		events: newFakeSource(),
		table:  newGatedTable(flows...),
		commit: &memWriter{port: 100},
		peer:   newMemPeer(1400),
	}
	io := IO{Clock: f.clock, Events: f.events, Table: f.table, Commit: f.commit, Peer: f.peer}
	if !rt.Caches.External.Enabled {
		f.inject = &memWriter{port: 101}
		io.Inject = f.inject
		io.Lookup = f.table
	}
	var err error
	if f.Engine, err = New(rt, io, Options{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs the engine until the returned stop is called, which waits for
// Run to return and then closes the kernel sockets, as the daemon does.
func (f *engineOnFakes) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not get ready")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			f.commit.close()
			if f.inject != nil {
				f.inject.close()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitUntil polls cond until it holds, or fails the test after a while.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
