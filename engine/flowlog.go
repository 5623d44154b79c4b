package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
)

// FlowLogOutput is where stats mode writes the flows that ended: the
// flow log file and syslog (FlowLogFile), or a test's recorder.
type FlowLogOutput interface {
	// Write logs one ended flow: at is when it was seen to end, text
	// its line without the time stamp (render.AppendEndedText).
	Write(at time.Time, text []byte) error
	// Reopen reopens the log file at its path, for log rotation.
	Reopen() error
	Close() error
}

// FlowLogIO is the I/O of stats mode: the kernel's event socket and
// table, where ended flows go, and the time.
type FlowLogIO struct {
	Clock Clock
	// Events is nil in polling mode, as for Ingest.
	Events EventSource
	Table  TableDumper
	Out    FlowLogOutput
	// OpenOut opens the output a reloaded configuration names, when its
	// flow log settings changed; nil: such a reload is refused.
	OpenOut func(config.StatsSettings) (FlowLogOutput, error)
}

// FlowLog is stats mode (conntrackd's src/stats-mode.c): it keeps a
// cache of the node's flows, filled by a dump at start and by the
// kernel's events, and logs each flow the kernel destroys, one line
// each, with the counters the kernel sent when accounting is on. It
// implements control.Handler: dump lists the cache, flush empties it,
// resync --kernel reads the kernel's table again, stats shows the
// counters; what needs a peer is refused. Several may run in one
// process.
type FlowLog struct {
	o      Options
	log    *slog.Logger
	clock  Clock
	ingest *Ingest
	ready  chan struct{}

	// mu guards what follows: the ingest goroutine writes the cache,
	// control requests read and flush it.
	mu      sync.Mutex
	rt      config.Runtime
	openOut func(config.StatsSettings) (FlowLogOutput, error)
	out     FlowLogOutput
	flows   *cache.Flows
	traffic render.Traffic
	started time.Time
	// dumpStart is when the dump in progress began: entries not updated
	// since are gone from the table when it completes.
	dumpStart time.Time
	// writeFailed says the last write to the output failed, so that a
	// full disk is logged once, not once per flow.
	writeFailed bool
	// Scratch space, reused for each event.
	ended render.Ended
	cf    cache.Flow
	line  []byte

	controlStats func() control.ServerStats
	closers      []func() error
}

// NewFlowLog composes stats mode over io for the configuration rt,
// whose Mode must be stats. Close closes io.Out.
func NewFlowLog(rt config.Runtime, io FlowLogIO, o Options) (*FlowLog, error) {
	if rt.Mode != config.ModeStats {
		return nil, fmt.Errorf("flow log: the configuration's mode is %s, not stats", rt.Mode)
	}
	if io.Out == nil {
		return nil, errors.New("flow log: no output")
	}
	is, err := IngestSettingsFor(rt)
	if err != nil {
		return nil, err
	}
	flows, err := cache.NewFlows(tierSettings(rt.Caches.Internal, 0))
	if err != nil {
		return nil, fmt.Errorf("stats cache: %w", err)
	}
	l := &FlowLog{
		o:       o,
		log:     o.Log,
		clock:   io.Clock,
		ready:   make(chan struct{}),
		rt:      rt,
		openOut: io.OpenOut,
		out:     io.Out,
		flows:   flows,
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.clock == nil {
		return nil, errors.New("flow log: no clock")
	}
	l.started = l.clock.Now()
	l.ingest, err = NewIngest(is, IngestIO{
		Clock:  io.Clock,
		Events: io.Events,
		Table:  io.Table,
		Sink:   flowLogSink{l},
		Log:    l.log,
		// The flow log reads the event socket, as the sync engine.
		ReaderThread: o.EventThread,
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Ready is closed once the initial dump of the table is in the cache.
func (l *FlowLog) Ready() <-chan struct{} { return l.ready }

// Run reads the kernel's events until ctx is done (it returns nil) or the
// event socket fails. It is called once.
func (l *FlowLog) Run(ctx context.Context) error {
	if err := l.ingest.Run(ctx); err != nil {
		return fmt.Errorf("kernel events: %w", err)
	}
	return nil
}

// Close closes the output and what OpenFlowLog opened. Run must have
// returned.
func (l *FlowLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.out != nil {
		errs = append(errs, l.out.Close())
		l.out = nil
	}
	for _, c := range l.closers {
		errs = append(errs, c())
	}
	l.closers = nil
	return errors.Join(errs...)
}

// flowLogSink is the cache's side of Ingest: conntrackd's internal
// handler of stats mode (src/stats-mode.c).
type flowLogSink struct{ l *FlowLog }

// NewFlow adds a flow the cache does not hold; conntrackd's stats mode
// leaves one it holds as it is.
func (s flowLogSink) NewFlow(now time.Time, f *ctnl.Flow) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	CacheFromKernel(&l.cf, f)
	if _, ok := l.flows.Find(l.cf.Key()); !ok {
		l.store(now, false)
	}
}

// UpdateFlow is an update, or a flow a dump reports.
func (s flowLogSink) UpdateFlow(now time.Time, f *ctnl.Flow) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	CacheFromKernel(&l.cf, f)
	l.store(now, true)
}

// store puts l.cf in the cache without what changes on every event and
// says nothing once the flow ended (timeout), as conntrackd unsets it.
func (l *FlowLog) store(now time.Time, update bool) {
	l.cf.Has &^= cache.HasTimeout
	l.cf.Timeout = 0
	var out cache.Outcome
	if update {
		_, out = l.flows.Update(&l.cf, now)
	} else {
		_, out = l.flows.Replace(&l.cf, now)
	}
	if out == cache.Refused {
		l.log.Debug("stats cache full: flow not tracked", "limit", l.flows.Limit())
	}
}

// DestroyFlow logs a flow the cache held: conntrackd logs only those,
// so a flow filtered out, or begun before a flush, is not logged.
func (s flowLogSink) DestroyFlow(now time.Time, f *ctnl.Flow) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	CacheFromKernel(&l.cf, f)
	r, ok := l.flows.Kill(l.cf.Key())
	if !ok {
		return
	}
	l.flows.Remove(r)
	e := &l.ended
	*e = render.Ended{Flow: l.cf, Start: f.Start, Stop: f.Stop}
	if f.Present&ctnl.HasCounters != 0 {
		e.HasCounters = true
		o, r := f.Counters[0], f.Counters[1]
		e.Orig = render.Traffic{Packets: o.Packets, Bytes: o.Bytes}
		e.Reply = render.Traffic{Packets: r.Packets, Bytes: r.Bytes}
		// conntrackd's "traffic processed" (src/traffic_stats.c):
		// both directions of the flows it logged.
		l.traffic.Packets += o.Packets + r.Packets
		l.traffic.Bytes += o.Bytes + r.Bytes
	}
	l.write(now, e)
}

// write logs one ended flow; l.mu is held.
func (l *FlowLog) write(now time.Time, e *render.Ended) {
	l.line = render.AppendEndedText(l.line[:0], e, now)
	err := l.out.Write(now, l.line)
	switch {
	case err != nil && !l.writeFailed:
		l.log.Error("writing the flow log failed; flows are not logged until it works again", "err", err)
	case err == nil && l.writeFailed:
		l.log.Info("writing the flow log works again")
	}
	l.writeFailed = err != nil
}

// Stats mode synchronises no expectations, and commits nothing.
func (flowLogSink) NewExpect(time.Time, *ctnl.Expect)     {}
func (flowLogSink) DestroyExpect(time.Time, *ctnl.Expect) {}
func (flowLogSink) Committed(time.Time, *ctnl.Event)      {}

func (s flowLogSink) BeginDump(now time.Time, cause DumpCause) {
	l := s.l
	l.mu.Lock()
	l.dumpStart = now
	l.mu.Unlock()
}

// EndDump logs the flows a complete dump did not find, which ended while
// events were lost (or between two polls): conntrackd's purge in stats
// mode logs them from its cache, so without counters. The first dump
// only fills the cache, and ends start-up.
func (s flowLogSink) EndDump(now time.Time, cause DumpCause, complete bool) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if cause == DumpStartup {
		select {
		case <-l.ready:
		default:
			close(l.ready)
		}
	}
	start := l.dumpStart
	l.dumpStart = time.Time{}
	if !complete || cause == DumpStartup {
		return
	}
	var gone []cache.Ref
	for r, ent := range l.flows.All() {
		if ent.State != cache.Dead && ent.Updated.Before(start) {
			gone = append(gone, r)
		}
	}
	var ent cache.Entry
	for _, r := range gone {
		if !l.flows.Get(r, &ent) {
			continue
		}
		l.flows.KillRef(r)
		l.flows.Remove(r)
		l.ended = render.Ended{Flow: ent.Flow}
		l.write(now, &l.ended)
	}
	if len(gone) > 0 {
		l.log.Info("flows gone from the kernel's table found by a dump", "cause", cause.String(), "flows", len(gone))
	}
}

// errStatsMode is the answer to what needs a peer.
func errStatsMode(what string) error {
	return fmt.Errorf("%s: the daemon runs in stats mode, which has no peer and no external cache", what)
}

// Commit is refused: stats mode has no external cache to commit.
func (l *FlowLog) Commit(context.Context, func(control.Progress)) error {
	return errStatsMode("commit")
}

// Flush empties the stats cache (conntrackd -f internal): flows it held
// are no longer logged when they end. conntrackd's -f without a cache
// does nothing in stats mode; here it flushes the only cache there is.
func (l *FlowLog) Flush(_ context.Context, which control.Cache) error {
	if which == control.External {
		return errStatsMode("flush external")
	}
	l.mu.Lock()
	l.flows.Flush()
	l.mu.Unlock()
	l.log.Info("stats cache flushed")
	return nil
}

// Resync with kernel reads the kernel's table into the stats cache again
// (conntrackd -R); without, it would ask a peer, which there is not.
func (l *FlowLog) Resync(ctx context.Context, kernel bool, progress func(control.Progress)) error {
	if !kernel {
		return errStatsMode("resync")
	}
	return l.ingest.Dump(ctx, progress)
}

// Bulk is refused: there is no peer to send to.
func (l *FlowLog) Bulk(context.Context) error { return errStatsMode("bulk") }

// Purge is refused: it is a backup's step of a fail-over.
func (l *FlowLog) Purge(context.Context) error { return errStatsMode("purge") }

// Reload re-reads the configuration: the filter is replaced, the flow
// log reopened (log rotation) or, when its settings changed, moved, and
// the cache's limit applied. The mode cannot change.
func (l *FlowLog) Reload(ctx context.Context) error {
	if l.o.Load == nil {
		return errors.New("reload: this flow log was started without a configuration file")
	}
	rt, err := l.o.Load()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return l.Apply(rt)
}

// Apply applies a new configuration, as Reload does after reading it.
func (l *FlowLog) Apply(rt config.Runtime) error {
	l.mu.Lock()
	old := l.rt
	l.mu.Unlock()
	if rt.Mode != old.Mode {
		return fmt.Errorf("reload: the daemon's mode changed (%s to %s), which needs a restart; the running configuration is kept", old.Mode, rt.Mode)
	}
	if rt.Metrics != old.Metrics {
		return errors.New("reload: the metrics endpoint changed, which needs a restart; the running configuration is kept")
	}
	if err := (cache.Settings{Limit: rt.Caches.Internal.Limit}).Check(); err != nil {
		return fmt.Errorf("reload: cache limit: %w", err)
	}
	if !reflect.DeepEqual(old.Filter, rt.Filter) {
		is, err := IngestSettingsFor(rt)
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		if err := l.ingest.SetFilter(is); err != nil {
			return fmt.Errorf("reload: filter: %w", err)
		}
		l.log.Info("reload: filter replaced", "stages", len(rt.Filter.Stages))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rt.Stats != old.Stats {
		if l.openOut == nil {
			return errors.New("reload: the flow log's settings cannot change here")
		}
		out, err := l.openOut(rt.Stats)
		if err != nil {
			return fmt.Errorf("reload: flow log: %w", err)
		}
		if err := l.out.Close(); err != nil {
			l.log.Warn("closing the old flow log failed", "err", err)
		}
		l.out = out
		l.log.Info("reload: flow log moved", "file", rt.Stats.LogFile)
	} else if err := l.out.Reopen(); err != nil {
		return fmt.Errorf("reload: reopening the flow log: %w", err)
	}
	if err := l.flows.SetLimit(rt.Caches.Internal.Limit); err != nil {
		return fmt.Errorf("reload: cache limit: %w", err)
	}
	l.rt = rt
	if l.o.Reloaded != nil {
		l.o.Reloaded(rt)
	}
	return nil
}

// SetControlStats gives the flow log the control server's counters.
func (l *FlowLog) SetControlStats(fn func() control.ServerStats) {
	l.mu.Lock()
	l.controlStats = fn
	l.mu.Unlock()
}

// Snapshot takes the counters; the stats cache is Internal.
func (l *FlowLog) Snapshot() render.Snapshot {
	l.mu.Lock()
	st := l.flows.Stats()
	s := render.Snapshot{
		Uptime:   l.clock.Now().Sub(l.started),
		Internal: &st,
		Limits:   render.Limits{Internal: l.rt.Caches.Internal.Limit},
		Traffic:  l.traffic,
		Mode:     "stats",
	}
	cs := l.controlStats
	l.mu.Unlock()
	s.Ingest = render.Ingest(l.ingest.Stats())
	if cs != nil {
		s.Control = cs()
	}
	return s
}

// Stats writes the counters: as text, the cache and traffic blocks
// conntrackd's -s prints in stats mode (titled "cache stats:"), then the
// extended cache and runtime blocks of -s cache and -s runtime; or one
// JSON object, whose internal cache is the stats cache.
func (l *FlowLog) Stats(ctx context.Context, format control.Format, emit control.Emit) error {
	s := l.Snapshot()
	if format == control.JSON {
		return emit(render.AppendStatsJSON(nil, &s))
	}
	b := s.Internal.AppendText(nil, "stats")
	b = fmt.Appendf(b, "traffic processed:\n%20d Bytes %25d Pckts\n\n", s.Traffic.Bytes, s.Traffic.Packets)
	b = s.Internal.AppendExtended(b, "stats")
	b, err := render.AppendStatsText(b, &s, render.SectionRuntime)
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

// Dump lists the stats cache, one flow per line (conntrackd -i in stats
// mode); there is no external cache.
func (l *FlowLog) Dump(ctx context.Context, which control.Cache, format control.Format, emit control.Emit) error {
	if which == control.External {
		return errStatsMode("dump external")
	}
	line := render.AppendFlowText
	switch format {
	case control.JSON:
		line = render.AppendFlowJSON
	case control.XML: // conntrackd -i -x, in stats mode too
		line = func(b []byte, ent *cache.Entry, _ time.Time) []byte { return render.AppendFlowXML(b, ent) }
	}
	return dumpCache(ctx, &l.mu, l.flows, l.clock, line, emit)
}
