package engine

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// receive hands each datagram from the peer to the sync mode until the
// peer is closed or ctx is done.
func (e *Engine) receive(ctx context.Context) {
	buf := make([]byte, 1<<16)
	var lastLog time.Time
	for {
		n, li, err := e.io.Peer.Recv(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			e.counters.recvErrors.Add(1)
			if li >= 0 {
				e.io.Peer.Malformed(li)
			}
			continue
		}
		now := e.io.Clock.Now()
		e.mu.Lock()
		err = e.mode.Receive(0, buf[:n], now)
		e.mu.Unlock()
		if err != nil {
			e.io.Peer.Malformed(li)
			// A peer speaking garbage would otherwise fill the log.
			if now.Sub(lastLog) > 10*time.Second {
				lastLog = now
				e.log.Warn("malformed sync message", "link", li, "err", err)
			}
		} else {
			e.io.Peer.Valid(li)
		}
		e.wake()
	}
}

// injector writes received flows straight into the kernel when there is
// no external cache (conntrackd's src/external_inject.c). It runs on the
// receiver's goroutine, under Engine.mu.
type injector struct {
	e    *Engine
	w    KernelWriter
	kf   ctnl.Flow
	kx   ctnl.Expect
	reqs [1]ctnl.Request
	errs [1]error
}

func (in *injector) init(e *Engine, w KernelWriter) { in.e, in.w = e, w }

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
