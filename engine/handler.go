package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/filter"
)

// Snapshot takes the counters of the engine and its stages.
func (e *Engine) Snapshot() render.Snapshot {
	ready := e.readinessNow()
	e.mu.Lock()
	s := render.Snapshot{
		Uptime: e.io.Clock.Now().Sub(e.started),
		Mode:   strings.ToLower(e.mode.Kind().String()),
		Sync:   e.mode.Stats(),
	}
	if e.internal != nil {
		x := e.internal.Stats()
		s.Internal = &x
	}
	if e.external != nil {
		x := e.external.Stats()
		s.External = &x
	}
	if e.iexp != nil {
		x := e.iexp.Stats()
		s.InternalExpect = &x
	}
	if e.eexp != nil {
		x := e.eexp.Stats()
		s.ExternalExpect = &x
	}
	if _, resend, ok := e.mode.Queued(0); ok {
		s.ResendQueue.Len = resend
	}
	s.Limits = render.Limits{Internal: e.rt.Caches.Internal.Limit, External: e.rt.Caches.External.Limit,
		InternalExpect: e.rt.Caches.Internal.Limit, ExternalExpect: e.rt.Caches.External.Limit}
	e.mu.Unlock()
	s.Ingest = render.Ingest(e.ingest.Stats())
	s.Links = e.peer.Status()
	if f := e.controlStats.Load(); f != nil {
		s.Control = (*f)()
	}
	c := &e.counters
	s.Operations = render.Operations{
		Commits: c.commits.Load(), Committed: c.committed.Load(), CommitFailed: c.commitFailed.Load(),
		Purges: c.purges.Load(), Purged: c.purged.Load(),
		Injected: c.injected.Load(), InjectFailed: c.injectFailed.Load(),
		ResyncRequests: c.resyncRequests.Load(),
		ReceiveErrors:  c.recvErrors.Load(), CacheFull: c.refused.Load(),
	}
	s.Commit, s.Resync = e.commitProgress.get(), e.resyncProgress.get()
	s.Readiness = &ready
	return s
}

// SetControlStats gives the engine the control server's counters, for
// the stats: the daemon starts the server after the engine.
func (e *Engine) SetControlStats(fn func() control.ServerStats) { e.controlStats.Store(&fn) }

// Stats writes the counters, as text in conntrackd's -s layout (every
// section, then ctsync's own) or as one JSON object.
func (e *Engine) Stats(ctx context.Context, format control.Format, emit control.Emit) error {
	s := e.Snapshot()
	if format == control.JSON {
		return emit(render.AppendStatsJSON(nil, &s))
	}
	b, err := render.AppendStatsText(nil, &s, render.SectionAll)
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		if err := emit(line); err != nil {
			return err
		}
	}
	return nil
}

// dumpBatch is how many entries a dump renders under the engine's lock
// before it hands them to the client.
const dumpBatch = 512

// Dump lists a cache, one flow per line (conntrackd -i / -e).
func (e *Engine) Dump(ctx context.Context, which control.Cache, format control.Format, emit control.Emit) error {
	c := e.internal
	if c == nil && which == control.Internal {
		// conntrackd lists the kernel's table instead (src/internal_bypass.c).
		return e.dumpKernel(ctx, format, emit)
	}
	if which == control.External {
		if c = e.external; c == nil {
			return fmt.Errorf("dump: the external cache is disabled")
		}
	}
	// ALARM's external cache says when each flow expires.
	// A reload replaces e.rt under e.mu.
	var life time.Duration
	e.mu.Lock()
	if which == control.External && e.rt.Sync.Mode == config.SyncAlarm {
		life = e.rt.Sync.CacheTimeout
	}
	e.mu.Unlock()
	line := func(b []byte, ent *cache.Entry, now time.Time) []byte {
		switch {
		case format == control.XML:
			return render.AppendFlowXML(b, ent)
		case format == control.JSON && life > 0:
			return render.AppendFlowJSONExpiring(b, ent, now, life)
		case format == control.JSON:
			return render.AppendFlowJSON(b, ent, now)
		case life > 0:
			return render.AppendFlowTextExpiring(b, ent, now, life)
		}
		return render.AppendFlowText(b, ent, now)
	}
	return dumpCache(ctx, &e.mu, c, e.io.Clock, line, emit)
}

// dumpCache lists c's live flows through emit, line rendering each. It
// renders a batch under mu and hands it to the client outside it, so a
// slow client never holds the caches. conntrackd hides the flows already
// destroyed (src/cache-ct.c).
func dumpCache(ctx context.Context, mu *sync.Mutex, c *cache.Flows, clock Clock,
	line func(b []byte, ent *cache.Entry, now time.Time) []byte, emit control.Emit) error {
	var cur cache.Cursor
	var buf []byte
	var ends []int
	for done := false; !done; {
		buf, ends = buf[:0], ends[:0]
		mu.Lock()
		now := clock.Now()
		cur, done = c.Batch(cur, dumpBatch, func(_ cache.Ref, ent *cache.Entry) {
			if ent.State == cache.Dead {
				return
			}
			buf = line(buf, ent, now)
			ends = append(ends, len(buf))
		})
		mu.Unlock()
		start := 0
		for _, end := range ends {
			if err := emit(buf[start:end]); err != nil {
				return err
			}
			start = end
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// dumpKernel lists the kernel's flows that the filter accepts, as a dump
// of the internal cache would list them: what an engine without one
// would have there.
func (e *Engine) dumpKernel(ctx context.Context, format control.Format, emit control.Emit) error {
	chain := e.ingest.Chain()
	var view filter.Flow
	var ent cache.Entry
	var buf []byte
	now := e.io.Clock.Now()
	return e.table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		if !ev.Flow.Orig.IsValid() {
			return nil
		}
		FilterFlow(&view, &ev.Flow)
		if !chain.Pass(&view) {
			return nil
		}
		ent = cache.Entry{State: cache.Alive, Created: now, Updated: now}
		CacheFromKernel(&ent.Flow, &ev.Flow)
		if format == control.XML {
			buf = render.AppendFlowXML(buf[:0], &ent)
		} else if format == control.JSON {
			buf = render.AppendFlowJSON(buf[:0], &ent, now)
		} else {
			buf = render.AppendFlowText(buf[:0], &ent, now)
		}
		if err := emit(buf); err != nil {
			return err
		}
		return ctx.Err()
	}, func(error) {})
}
