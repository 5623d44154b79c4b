package engine

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
)

// idleWriter is a kernel writer that writes nothing.
type idleWriter struct{}

func (idleWriter) Apply(reqs []ctnl.Request, errs []error) error { return nil }
func (idleWriter) PortID() uint32                                { return 4242 }

// silentPeer is a link on which nothing arrives.
type silentPeer struct{ closed chan struct{} }

func (p *silentPeer) Send([]byte) error { return nil }
func (p *silentPeer) Recv([]byte) (int, int, error) {
	<-p.closed
	return 0, 0, net.ErrClosed
}
func (p *silentPeer) Valid(int)                 {}
func (p *silentPeer) Malformed(int)             {}
func (p *silentPeer) MaxDatagram() int          { return 1400 }
func (p *silentPeer) Status() []link.LinkStatus { return nil }
func (p *silentPeer) Close() error {
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	return nil
}

// Alive answers while the engine runs; it gives no answer while the
// engine's lock is held (a hung stage), and says stopped after Run.
func TestAlive(t *testing.T) {
	rt := runtimeOf(t, `daemon {
  poll_interval = "1h"
}
sync "ftfw" {}`+syncLink)
	e, err := New(rt, IO{Table: newFakeTable(), Commit: idleWriter{}, Peer: &silentPeer{closed: make(chan struct{})}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	probe := func(d time.Duration) error {
		pctx, pcancel := context.WithTimeout(context.Background(), d)
		defer pcancel()
		return e.Alive(pctx)
	}
	if err := probe(10 * time.Second); err != nil {
		t.Fatalf("running engine: %v", err)
	}

	// A stage that holds the lock for good stops the transmitter: it
	// takes the lock on its next round (the first probe starts one).
	e.mu.Lock()
	_ = probe(100 * time.Millisecond)
	if err := probe(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("engine whose lock is held: %v, want no answer", err)
	}
	e.mu.Unlock()
	if err := probe(10 * time.Second); err != nil {
		t.Errorf("after the lock is released: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := probe(10 * time.Second); !errors.Is(err, errStopped) {
		t.Errorf("stopped engine: %v, want %v", err, errStopped)
	}
}
