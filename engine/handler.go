package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/ftfw"
)

// Snapshot is what `ctsync stats` shows: every counter of the engine and
// its stages at one moment.
type Snapshot struct {
	Uptime   time.Duration `json:"uptime_ns"`
	Mode     string        `json:"mode"`
	Internal cache.Stats   `json:"internal"`
	External *cache.Stats  `json:"external,omitempty"`
	// InternalExpect and ExternalExpect are the expectation caches,
	// with expectation_sync.
	InternalExpect *cache.Stats      `json:"internal_expect,omitempty"`
	ExternalExpect *cache.Stats      `json:"external_expect,omitempty"`
	Ingest         IngestStats       `json:"ingest"`
	Sync           syncmode.Stats    `json:"sync"`
	Session        *ftfw.Stats       `json:"session,omitempty"`
	Links          []link.LinkStatus `json:"links"`
	Engine         EngineStats       `json:"engine"`
}

// EngineStats are the operations' counters.
type EngineStats struct {
	Commits, Committed, CommitFailed uint64
	Purges, Purged                   uint64
	Injected, InjectFailed           uint64
	ReceiveErrors                    uint64
	// CacheFull counts kernel flows the internal cache had no room for.
	CacheFull uint64
}

// Snapshot takes the counters.
func (e *Engine) Snapshot() Snapshot {
	e.mu.Lock()
	s := Snapshot{
		Uptime:   e.io.Clock.Now().Sub(e.started),
		Mode:     e.mode.Kind().String(),
		Internal: e.internal.Stats(),
		Sync:     e.mode.Stats(),
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
	if st, ok := e.mode.SessionStats(0); ok {
		s.Session = &st
	}
	e.mu.Unlock()
	s.Ingest = e.ingest.Stats()
	s.Links = e.io.Peer.Status()
	c := &e.counters
	s.Engine = EngineStats{
		Commits: c.commits.Load(), Committed: c.committed.Load(), CommitFailed: c.commitFailed.Load(),
		Purges: c.purges.Load(), Purged: c.purged.Load(),
		Injected: c.injected.Load(), InjectFailed: c.injectFailed.Load(),
		ReceiveErrors: c.recvErrors.Load(), CacheFull: c.refused.Load(),
	}
	return s
}

// Stats writes the counters, as text in conntrackd's -s layout or as
// one JSON object.
func (e *Engine) Stats(ctx context.Context, format control.Format, emit control.Emit) error {
	s := e.Snapshot()
	if format == control.JSON {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return emit(b)
	}
	var b []byte
	b = s.Internal.AppendText(b, "internal")
	if s.External != nil {
		b = s.External.AppendText(b, "external")
	}
	var w bytes.Buffer
	for _, l := range s.Links {
		if l.Active {
			link.WriteActive(&w, l)
		}
	}
	b = append(b, w.Bytes()...)
	b = fmt.Appendf(b, "message tracking:\n%20d Malformed msgs %20d Lost msgs\n", s.Sync.Malformed, s.Sync.Lost)
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
	if which == control.External {
		if c = e.external; c == nil {
			return fmt.Errorf("dump: the external cache is disabled")
		}
	}
	var cur cache.Cursor
	var buf []byte
	var ends []int
	for done := false; !done; {
		buf, ends = buf[:0], ends[:0]
		e.mu.Lock()
		now := e.io.Clock.Now()
		cur, done = c.Batch(cur, dumpBatch, func(_ cache.Ref, ent *cache.Entry) {
			// conntrackd hides the flows already destroyed (src/cache-ct.c).
			if ent.State == cache.Dead {
				return
			}
			if format == control.JSON {
				buf = appendFlowJSON(buf, ent, now)
			} else {
				buf = appendFlowText(buf, ent, now)
			}
			ends = append(ends, len(buf))
		})
		e.mu.Unlock()
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
