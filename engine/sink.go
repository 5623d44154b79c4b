package engine

import (
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// sinkState is the input stage's scratch and the dump in progress,
// guarded by Engine.mu.
type sinkState struct {
	flow cache.Flow
	exp  cache.Expect
	// dumpStart is when the dump in progress began; an internal object
	// it did not refresh is gone from the kernel.
	dumpStart time.Time
	cause     DumpCause
	readyOnce bool
}

// engineSink is the internal cache as the input stage feeds it
// (conntrackd's src/internal_cache.c): each change is stored, then
// handed to the sync mode to send.
type engineSink struct{ e *Engine }

func (s engineSink) NewFlow(now time.Time, f *ctnl.Flow) {
	e := s.e
	e.mu.Lock()
	CacheFromKernel(&e.sink.flow, f)
	if e.internal == nil {
		e.direct(wire.TypeCTNew)
		e.mu.Unlock()
		return
	}
	r, o := e.internal.Replace(&e.sink.flow, now)
	e.changed(r, o, now)
	e.mu.Unlock()
}

func (s engineSink) UpdateFlow(now time.Time, f *ctnl.Flow) {
	e := s.e
	e.mu.Lock()
	CacheFromKernel(&e.sink.flow, f)
	if e.internal == nil {
		// conntrackd's bypass sends events, not dumps.
		if e.sink.dumpStart.IsZero() {
			e.direct(wire.TypeCTUpdate)
		}
		e.mu.Unlock()
		return
	}
	r, o := e.internal.Update(&e.sink.flow, now)
	if e.sink.dumpStart.IsZero() || e.sink.sends() {
		e.changed(r, o, now)
	} else if o != cache.Refused {
		e.mode.Stored(r, now)
	}
	e.mu.Unlock()
}

func (s engineSink) DestroyFlow(now time.Time, f *ctnl.Flow) {
	e := s.e
	e.mu.Lock()
	CacheFromKernel(&e.sink.flow, f)
	if e.internal == nil {
		e.direct(wire.TypeCTDelete)
		e.mu.Unlock()
		return
	}
	if r, ok := e.internal.Kill(e.sink.flow.Key()); ok {
		e.mode.Local(r, now)
		e.wake()
	}
	e.mu.Unlock()
}

// direct sends the flow in e.sink.flow straight to the link (no internal
// cache). e.mu is held.
func (e *Engine) direct(typ wire.Type) {
	if err := e.mode.Direct(typ, &e.sink.flow); err != nil {
		e.log.Debug("sync send failed", "err", err)
	}
	e.wake()
}

// changed hands a stored object to the mode.
func (e *Engine) changed(r cache.Ref, o cache.Outcome, now time.Time) {
	if o == cache.Refused {
		e.counters.refused.Add(1)
		return
	}
	e.mode.Local(r, now)
	e.wake()
}

// sends reports whether the dump in progress sends what it finds:
// conntrackd's start-up population and -R do not (src/run.c); a resync
// after an overrun and a poll do, since events were missed.
func (s *sinkState) sends() bool { return s.cause == DumpResync || s.cause == DumpPoll }

// NewExpect stores an expectation whose master flow the internal cache
// holds: conntrackd ignores the others, whose master the peer would not
// have either (src/internal_cache.c).
func (s engineSink) NewExpect(now time.Time, x *ctnl.Expect) {
	e := s.e
	if e.iexp == nil {
		return
	}
	e.mu.Lock()
	CacheExpectFromKernel(&e.sink.exp, x)
	if _, ok := e.internal.Find(cache.Key{Orig: e.sink.exp.Master, Zone: e.sink.exp.Zone}); ok {
		r, o := e.iexp.Replace(&e.sink.exp, now)
		if o == cache.Refused {
			e.counters.refused.Add(1)
		} else if e.sink.dumpStart.IsZero() || e.sink.sends() {
			e.mode.LocalExpect(r, now)
			e.wake()
		}
	}
	e.mu.Unlock()
}

func (s engineSink) DestroyExpect(now time.Time, x *ctnl.Expect) {
	e := s.e
	if e.iexp == nil {
		return
	}
	e.mu.Lock()
	CacheExpectFromKernel(&e.sink.exp, x)
	if r, ok := e.iexp.Kill(e.sink.exp.Key()); ok {
		e.mode.LocalExpect(r, now)
		e.wake()
	}
	e.mu.Unlock()
}

func (s engineSink) BeginDump(now time.Time, cause DumpCause) {
	e := s.e
	e.mu.Lock()
	e.sink.dumpStart, e.sink.cause = now, cause
	e.mu.Unlock()
}

// EndDump removes what a complete dump did not find: conntrackd's purge
// (src/cache-ct.c), without its netlink round trip per flow. The object
// is killed and its DEL sent, so that the peer forgets it too, whatever
// the cause (conntrackd's -R would leave it to the peer's own timers).
func (s engineSink) EndDump(now time.Time, cause DumpCause, complete bool) {
	e := s.e
	e.mu.Lock()
	start := e.sink.dumpStart
	e.sink.dumpStart, e.sink.cause = time.Time{}, 0
	if complete && cause != DumpStartup && e.internal != nil {
		n := 0
		for r, ent := range e.internal.All() {
			if ent.State != cache.Dead && ent.Updated.Before(start) {
				e.internal.KillRef(r)
				e.mode.Local(r, now)
				n++
			}
		}
		if e.iexp != nil {
			for r, ent := range e.iexp.All() {
				if ent.State != cache.Dead && ent.Updated.Before(start) {
					e.iexp.KillRef(r)
					e.mode.LocalExpect(r, now)
					n++
				}
			}
		}
		if n > 0 {
			e.log.Info("flows gone from the kernel's table found by a dump", "cause", cause.String(), "flows", n)
			e.wake()
		}
	}
	e.mu.Unlock()
	// ALARM's refresh timers, armed by Stored for what the dump found,
	// are only scheduled when the transmitter next looks: a quiet node
	// (no events, a peer that sends nothing) never refreshed them.
	e.wake()
	if cause == DumpStartup && !e.sink.readyOnce {
		e.sink.readyOnce = true
		close(e.ready)
	}
}

// Committed records a flow our commit wrote: in the internal cache, not
// sent (the peer is where it came from). A destroy removes the object
// outright: no DEL is owed to anyone.
func (s engineSink) Committed(now time.Time, ev *ctnl.Event) {
	e := s.e
	if e.internal == nil {
		return
	}
	e.mu.Lock()
	CacheFromKernel(&e.sink.flow, &ev.Flow)
	switch ev.Type {
	case ctnl.EventDestroy:
		e.internal.Delete(e.sink.flow.Key())
	default:
		if r, o := e.internal.Update(&e.sink.flow, now); o == cache.Refused {
			e.counters.refused.Add(1)
		} else {
			e.mode.Stored(r, now)
		}
	}
	e.mu.Unlock()
}
