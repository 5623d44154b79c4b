package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/wire"
)

// peerSwitch is the engine's Peer: the links it was opened with, or those
// a reload opened in their place. The receiver goes on with the new links
// when the old ones close under it.
type peerSwitch struct {
	mu     sync.RWMutex
	cur    Peer
	closed bool
	// changed is closed, and replaced, at each swap and at Close.
	changed chan struct{}
}

func newPeerSwitch(p Peer) *peerSwitch { return &peerSwitch{cur: p, changed: make(chan struct{})} }

// signal wakes a Recv waiting for a swap; p.mu is held.
func (p *peerSwitch) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *peerSwitch) get() Peer {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cur
}

// down reports whether a reload left no links (downPeer).
func (p *peerSwitch) down() bool {
	_, ok := p.get().(downPeer)
	return ok
}

func (p *peerSwitch) Send(b []byte) error       { return p.get().Send(b) }
func (p *peerSwitch) Valid(link int)            { p.get().Valid(link) }
func (p *peerSwitch) Malformed(link int)        { p.get().Malformed(link) }
func (p *peerSwitch) MaxDatagram() int          { return p.get().MaxDatagram() }
func (p *peerSwitch) Status() []link.LinkStatus { return p.get().Status() }

// Recv reads from the current links; when they were closed by a swap, it
// goes on with the new ones, and while there are none (a reload failed
// to open them) it waits for the next swap.
func (p *peerSwitch) Recv(buf []byte) (int, int, error) {
	for {
		p.mu.RLock()
		cur, changed := p.cur, p.changed
		p.mu.RUnlock()
		n, li, err := cur.Recv(buf)
		if err == nil || !errors.Is(err, net.ErrClosed) {
			return n, li, err
		}
		p.mu.RLock()
		closed, swapped := p.closed, p.cur != cur
		p.mu.RUnlock()
		if closed {
			return n, li, err
		}
		if !swapped {
			<-changed
		}
	}
}

// swap closes the current links and puts next in their place. The old
// links must close first: the new ones bind the same ports.
func (p *peerSwitch) swap(open func() (Peer, error), reopen func() (Peer, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("the engine is stopping")
	}
	defer p.signal()
	p.cur.Close()
	next, err := open()
	if err != nil {
		// Back to what ran before, if it opens again.
		prev, perr := reopen()
		if perr != nil {
			p.cur = downPeer{}
			return fmt.Errorf("%w; reopening the previous links failed too: %v", err, perr)
		}
		p.cur = prev
		return err
	}
	p.cur = next
	return nil
}

func (p *peerSwitch) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.signal()
	return p.cur.Close()
}

// downPeer stands for links that could not be opened: sends fail, and
// receiving waits for a swap or the end.
type downPeer struct{}

var errNoLinks = errors.New("no sync link: the last reload could not open any")

func (downPeer) Send([]byte) error             { return errNoLinks }
func (downPeer) Recv([]byte) (int, int, error) { return 0, -1, fmt.Errorf("%w", net.ErrClosed) }
func (downPeer) Valid(int)                     {}
func (downPeer) Malformed(int)                 {}
func (downPeer) MaxDatagram() int              { return 0 }
func (downPeer) Status() []link.LinkStatus     { return nil }
func (downPeer) Close() error                  { return nil }

// receive hands each datagram from the peer to the sync mode until the
// peer is closed or ctx is done.
func (e *Engine) receive(ctx context.Context) {
	buf := make([]byte, 1<<16)
	var lastLog time.Time
	for {
		n, li, err := e.peer.Recv(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			e.counters.recvErrors.Add(1)
			if li >= 0 {
				e.peer.Malformed(li)
			}
			continue
		}
		now := e.io.Clock.Now()
		e.mu.Lock()
		err = e.mode.Receive(0, buf[:n], now)
		e.mu.Unlock()
		if err != nil {
			e.peer.Malformed(li)
			// A peer speaking garbage would otherwise fill the log.
			if now.Sub(lastLog) > 10*time.Second {
				lastLog = now
				e.log.Warn("malformed sync message", "link", li, "err", err)
			}
		} else {
			e.peer.Valid(li)
		}
		e.wake()
	}
}

// injector writes received flows straight into the kernel when there is
// no external cache (conntrackd's src/external_inject.c). It runs on the
// receiver's goroutine, under Engine.mu.
type injector struct {
	e      *Engine
	w      KernelWriter
	lookup FlowLookup
	kf     ctnl.Flow
	kx     ctnl.Expect
	reqs   [1]ctnl.Request
	errs   [1]error
}

func (in *injector) init(e *Engine, w KernelWriter, l FlowLookup) { in.e, in.w, in.lookup = e, w, l }

// known says whether the kernel has a flow of key k: ResolvePorts keeps
// the ports of a flow received without its state when it does
// (docs/compat.md), so that the write goes to that flow.
func (in *injector) known(k cache.Key) bool {
	_, err := in.lookup.Get(ctnl.Tuple(k.Orig), k.Zone)
	return err == nil
}

// flow writes one received flow: NEW and UPD create or update it, DEL
// deletes it. The configured CommitTimeout does not apply, as in
// conntrackd.
func (in *injector) flow(typ wire.Type, f *cache.Flow) {
	o := in.e.conv
	o.CommitTimeout = 0
	in.kf = ctnl.Flow{}
	op := ctnl.OpCreateOrUpdate
	if typ == wire.TypeCTDelete {
		op = ctnl.OpDelete
		in.kf.Orig = ctnl.Tuple(f.Orig)
		in.kf.Zone = f.Zone
	} else if err := KernelFromCache(&in.kf, f, o); err != nil {
		in.e.counters.injectFailed.Add(1)
		return
	}
	err := in.apply(op)
	if isNATRefusal(err) {
		// The kernel does not change an existing flow's NAT or
		// master; update the rest.
		err = in.apply(ctnl.OpUpdate)
	}
	if err != nil && !(op == ctnl.OpDelete && isNotFound(err)) {
		in.e.counters.injectFailed.Add(1)
		return
	}
	in.e.counters.injected.Add(1)
}

func (in *injector) apply(op ctnl.Op) error {
	in.reqs[0] = ctnl.Request{Op: op, Flow: &in.kf}
	if err := in.w.Apply(in.reqs[:], in.errs[:]); err != nil {
		return err
	}
	return in.errs[0]
}

// expect writes one received expectation: NEW and UPD create it (an
// existing one is left as it is), DEL deletes it.
func (in *injector) expect(typ wire.Type, x *cache.Expect) {
	o := in.e.conv
	o.CommitTimeout = 0
	in.kx = ctnl.Expect{}
	if err := KernelExpectFromCache(&in.kx, x, o); err != nil {
		in.e.counters.injectFailed.Add(1)
		return
	}
	op := ctnl.OpCreate
	if typ == wire.TypeExpDelete {
		op = ctnl.OpDelete
	}
	in.reqs[0] = ctnl.Request{Op: op, Expect: &in.kx}
	err := in.w.Apply(in.reqs[:], in.errs[:])
	if err == nil {
		err = in.errs[0]
	}
	if err != nil && !errors.Is(err, syscall.EEXIST) && !(op == ctnl.OpDelete && isNotFound(err)) {
		in.e.counters.injectFailed.Add(1)
		return
	}
	in.e.counters.injected.Add(1)
}
