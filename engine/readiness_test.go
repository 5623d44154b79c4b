package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
)

// pipePeer joins two engines on fakes: what one sends, the other
// receives, unless cut (a dead or unplugged peer).
type pipePeer struct {
	in   chan []byte
	to   *pipePeer
	cut  atomic.Bool
	done chan struct{}
	once sync.Once
}

func newPipe() (a, b *pipePeer) {
	a = &pipePeer{in: make(chan []byte, 1<<14), done: make(chan struct{})}
	b = &pipePeer{in: make(chan []byte, 1<<14), done: make(chan struct{})}
	a.to, b.to = b, a
	return a, b
}

func (p *pipePeer) Send(b []byte) error {
	if p.cut.Load() || p.to.cut.Load() {
		return nil
	}
	select {
	case p.to.in <- append([]byte(nil), b...):
	default: // a full link drops, as UDP does
	}
	return nil
}

func (p *pipePeer) Recv(buf []byte) (int, int, error) {
	select {
	case b := <-p.in:
		return copy(buf, b), 0, nil
	case <-p.done:
		return 0, -1, fmt.Errorf("pipe: %w", net.ErrClosed)
	}
}

func (p *pipePeer) Valid(int)                 {}
func (p *pipePeer) Malformed(int)             {}
func (p *pipePeer) MaxDatagram() int          { return 1400 }
func (p *pipePeer) Status() []link.LinkStatus { return nil }
func (p *pipePeer) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// node is an engine on fakes with its end of a pipe.
type node struct {
	*Engine
	clock  *fakeClock
	events *fakeSource
	peer   *pipePeer
}

func newNode(t *testing.T, src string, peer *pipePeer, flows ...*ctnl.Flow) *node {
	t.Helper()
	n := &node{clock: newFakeClock(), events: newFakeSource(), peer: peer}
	io := IO{Clock: n.clock, Events: n.events, Table: newGatedTable(flows...), Commit: &memWriter{port: 100}, Peer: peer}
	var err error
	if n.Engine, err = New(runtimeOf(t, src), io, Options{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-n.Engine.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not start")
	}
	return n
}

func (n *node) readiness() control.Readiness {
	r, _ := n.Readiness(context.Background())
	return r
}

func (n *node) external() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Engine.external.Len()
}

// tick advances both clocks by d, in steps that let the engines' timers
// run, until cond holds; it fails after limit of fake time.
func tick(t *testing.T, nodes []*node, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for spent := time.Duration(0); !cond(); spent += 50 * time.Millisecond {
		if spent > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		for _, n := range nodes {
			n.clock.Advance(50 * time.Millisecond)
		}
		// Let the goroutines run. The rules are timed (NOTRACK's 2 s of
		// quiet): a fake clock far ahead of real time calls an answer
		// still on its way, on a loaded machine or under -race, quiet.
		time.Sleep(10 * time.Millisecond)
	}
}

// advance runs both engines for d of fake time.
func advance(t *testing.T, nodes []*node, d time.Duration) {
	t.Helper()
	var spent time.Duration
	tick(t, nodes, d+time.Second, "advance", func() bool { spent += 50 * time.Millisecond; return spent > d })
}

func table(n int) []*ctnl.Flow {
	var fs []*ctnl.Flow
	for i := range n {
		fs = append(fs, tcp(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), uint16(1000+i)))
	}
	return fs
}

// A backup that starts with startup_resync is not ready until it holds
// its peer's whole table, and says what it waits for; with the resync
// off it is not ready until one is asked for, and then it is; a peer
// that never answers keeps it not ready, with the reason.
func TestReadinessResync(t *testing.T) {
	const flows = 300
	for _, mode := range []string{"ftfw", "notrack"} {
		t.Run(mode, func(t *testing.T) {
			pa, pb := newPipe()
			pb.cut.Store(true) // the backup starts before the primary listens
			a := newNode(t, `sync "`+mode+`" {}`+syncLink, pa, table(flows)...)
			b := newNode(t, `sync "`+mode+`" {
  startup_resync = true
}`+syncLink, pb)
			// Until the engine runs its start-up request, it says so.
			tick(t, []*node{a, b}, 5*time.Second, "the start-up request", func() bool {
				r := b.readiness()
				if r.Ready || !strings.Contains(r.Reason, "nothing heard from the peer") && !strings.Contains(r.Reason, "start-up resync is not asked") {
					t.Fatalf("peer silent: %+v", r)
				}
				return strings.Contains(r.Reason, "nothing heard from the peer")
			})
			tick(t, []*node{a, b}, 5*time.Second, "the backup waits", func() bool {
				r := b.readiness()
				return !r.Ready && strings.Contains(r.Reason, "resync requested 5s ago")
			})
			pb.cut.Store(false)
			tick(t, []*node{a, b}, time.Minute, "ready", func() bool {
				if r := b.readiness(); r.Ready {
					if got := b.external(); got != flows {
						t.Fatalf("ready (%s) with %d of the peer's %d flows", r.Reason, got, flows)
					}
					return true
				}
				return false
			})
			r := b.readiness()
			t.Logf("%s", r)
			if !strings.Contains(r.Reason, "resync from the peer complete") || r.Since.IsZero() {
				t.Errorf("ready: %+v", r)
			}
			// The primary asked for nothing.
			if r := a.readiness(); r.Ready || !strings.Contains(r.Reason, "startup_resync is off") {
				t.Errorf("primary without startup_resync: %+v", r)
			}
			var progress []control.Progress
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- a.ResyncWait(ctx, func(p control.Progress) { progress = append(progress, p) })
			}()
			tick(t, []*node{a, b}, time.Minute, "ResyncWait", func() bool {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("ResyncWait: %v", err)
					}
					return true
				default:
					return false
				}
			})
			if r := a.readiness(); !r.Ready {
				t.Errorf("after ResyncWait: %+v", r)
			}
			if len(progress) == 0 || progress[0].Stage != "resync" {
				t.Errorf("progress %+v", progress)
			}
		})
	}
}

// A peer that dies after the copy is complete leaves the node ready: that
// is when it is needed. But in FT-FW, flows of ours that the dead peer
// never acknowledges make it not ready once the queue has stalled for
// drainStall, with their number.
func TestReadinessStalledQueue(t *testing.T) {
	pa, pb := newPipe()
	src := `sync "ftfw" {
  startup_resync = true
}` + syncLink
	a := newNode(t, src, pa, table(10)...)
	b := newNode(t, src, pb)
	nodes := []*node{a, b}
	tick(t, nodes, time.Minute, "both ready", func() bool { return a.readiness().Ready && b.readiness().Ready })
	pa.cut.Store(true) // b is gone
	advance(t, nodes, 30*time.Second)
	if r := b.readiness(); !r.Ready {
		t.Errorf("the peer died after the copy: %+v", r)
	}
	for i := range 5 {
		f := tcp("198.18.9.1", uint16(2000+i))
		a.events.event(eventOf(ctnl.EventNew, f, 0))
	}
	waitUntil(t, "the events to be taken", func() bool { return a.Snapshot().Ingest.Events == 5 })
	advance(t, nodes, 2*time.Second)
	if r := a.readiness(); !r.Ready || !strings.Contains(r.Reason, "being acknowledged") {
		t.Errorf("right after the events: %+v", r)
	}
	tick(t, nodes, drainStall+2*time.Second, "a not ready", func() bool { return !a.readiness().Ready })
	if r := a.readiness(); !strings.Contains(r.Reason, "5 flows unacknowledged by the peer") {
		t.Errorf("stalled: %+v", r)
	}
}

// ALARM has no resync: ready a full refresh period after the peer was
// first heard, and ResyncWait says why it cannot wait.
func TestReadinessAlarm(t *testing.T) {
	pa, pb := newPipe()
	src := `sync "alarm" {
  refresh_time = "5s"
}` + syncLink
	a := newNode(t, src, pa, table(50)...)
	b := newNode(t, src, pb)
	nodes := []*node{a, b}
	tick(t, nodes, 8*time.Second, "b hears a", func() bool {
		return strings.Contains(b.readiness().Reason, "receiving the peer's refreshes")
	})
	tick(t, nodes, 10*time.Second, "b ready", func() bool { return b.readiness().Ready })
	if got := b.external(); got != 50 {
		t.Errorf("ALARM ready with %d of 50 flows", got)
	}
	if err := b.ResyncWait(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "ALARM has no resync") {
		t.Errorf("ResyncWait in ALARM: %v", err)
	}
}
