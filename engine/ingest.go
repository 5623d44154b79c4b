package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
	"golang.org/x/net/bpf"
)

// EventSource is the kernel's event socket as the input stage uses it:
// ctnl.Events, or a test's fake. Run delivers events, overruns and
// undecodable messages to h on its own goroutine until Close.
type EventSource interface {
	Run(h ctnl.Handler) error
	Close() error
}

// TableDumper streams the kernel's table: ctnl.Table, or a test's fake.
type TableDumper interface {
	Dump(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error
	DumpExpect(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error
}

// Clock is the input stage's time: the real one (SystemClock) or a test's.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DumpCause says why the table is being dumped into the sink.
type DumpCause uint8

const (
	// DumpStartup is the initial population. conntrackd sends nothing
	// to the peers for it (src/run.c).
	DumpStartup DumpCause = iota + 1
	// DumpResync follows an overrun, once OverrunResync has passed.
	DumpResync
	// DumpPoll is one period of the polling mode.
	DumpPoll
	// DumpRequest is asked for by an operator (Ingest.Dump; conntrackd
	// -R).
	DumpRequest
)

func (c DumpCause) String() string {
	switch c {
	case DumpStartup:
		return "startup"
	case DumpResync:
		return "resync"
	case DumpPoll:
		return "poll"
	case DumpRequest:
		return "request"
	}
	return fmt.Sprintf("DumpCause(%d)", uint8(c))
}

// IngestSink is what the input stage feeds: the internal cache. Its
// methods are called by one goroutine at a time, that running Ingest.Run
// or the event source's, in the kernel's order; the values passed are
// reused after they return.
type IngestSink interface {
	// NewFlow is a flow created in the table (a NEW event): conntrackd
	// replaces any entry of the same key (src/cache-ct.c).
	NewFlow(now time.Time, f *ctnl.Flow)
	// UpdateFlow is a flow changed (an UPDATE event) or seen by a dump:
	// the entry is updated, or created when absent.
	UpdateFlow(now time.Time, f *ctnl.Flow)
	// DestroyFlow is a flow removed from the table.
	DestroyFlow(now time.Time, f *ctnl.Flow)
	// NewExpect and DestroyExpect are the same for expectations; a dump
	// reports its expectations through NewExpect.
	NewExpect(now time.Time, e *ctnl.Expect)
	DestroyExpect(now time.Time, e *ctnl.Expect)
	// BeginDump and EndDump bracket a dump of the table (flows, then
	// expectations when they are synchronised); nothing else is called
	// between them. When complete is true, every entry the sink held
	// before BeginDump and that the dump did not report is gone from the
	// table: the sink destroys it, as conntrackd's purge does after a
	// resync and in polling mode (src/cache-ct.c). When false, the dump
	// failed part way and the sink keeps its entries.
	BeginDump(now time.Time, cause DumpCause)
	EndDump(now time.Time, cause DumpCause, complete bool)
	// Committed is an event our own commit caused (IngestIO.CommitPorts):
	// conntrackd records such flows in the internal cache but does not
	// send them, since the peer is where they came from (src/run.c,
	// src/internal_cache.c). It passes the filter first, as conntrackd's
	// events all do (src/run.c).
	Committed(now time.Time, ev *ctnl.Event)
}

// IngestIO is the input stage's I/O.
type IngestIO struct {
	Clock Clock
	// Events is the event socket, opened (and so subscribed) before
	// Run, which then dumps the table: a flow created or changed during
	// the dump reaches the sink through its event. Nil in polling mode.
	// Run closes it.
	Events EventSource
	Table  TableDumper
	Sink   IngestSink
	// OwnPorts are the netlink port ids of the engine's own writing
	// sockets (ctnl.Writer.PortID): the events they cause are ignored,
	// as conntrackd's src/origin.c does.
	OwnPorts []uint32
	// CommitPorts are the ports of the sockets that commit the external
	// cache (and purge the table): their events go to Sink.Committed.
	CommitPorts []uint32
	// Log receives what an operator should know (overruns, resyncs,
	// failed dumps); nil discards it.
	Log *slog.Logger
	// ReaderThread, when set, is called first on the goroutine that
	// reads the event socket (Options.EventThread).
	ReaderThread func() (release func())
}

// IngestStats are the input stage's counters, conntrackd's
// "conntrackd -s runtime" netlink counters and more.
type IngestStats struct {
	// Events counts the events received, whatever became of them;
	// Filtered those the user-space filter dropped, OwnOrigin those our
	// own writes caused, Skipped the messages that did not decode or
	// describe no flow.
	Events, Filtered, OwnOrigin, Skipped uint64
	// Overruns counts the event socket's overruns (events lost);
	// ReadBuffer is its receive buffer size after the last one.
	Overruns   uint64
	ReadBuffer int
	// Resyncs and Polls count the dumps done after an overrun and in
	// polling mode; DumpFailures those that failed; Dumped the flows
	// and expectations dumps delivered to the sink, DumpFiltered those
	// the filter dropped.
	Resyncs, Polls, DumpFailures uint64
	Dumped, DumpFiltered         uint64
}

type ingestCounters struct {
	events, filtered, ownOrigin, skipped atomic.Uint64
	overruns                             atomic.Uint64
	readBuffer                           atomic.Int64
	resyncs, polls, dumpFailures         atomic.Uint64
	dumped, dumpFiltered                 atomic.Uint64
}

// Ingest is the kernel-side input stage: events (or periodic dumps)
// through the origin check and the filter into the sink, with the
// resynchronisation an overrun calls for. It is conntrackd's src/run.c
// event loop and src/ctnl.c event and dump handlers.
type Ingest struct {
	s  IngestSettings
	io IngestIO
	// chain is swapped by SetFilter while Run reads it.
	chain  atomic.Pointer[filter.Chain]
	own    map[uint32]bool
	commit map[uint32]bool
	stats  ingestCounters

	// requests are operators' dumps (Dump), answered on their channel.
	requests chan dumpRequest
	// report is told how far the requested dump in progress has come;
	// nil for the others.
	report func(control.Progress)

	// items is the hand-over from the event source's goroutine to Run's,
	// a batch at a time; free returns the batches, emptied, for reuse.
	items chan *ingestBatch
	free  chan *ingestBatch
	quit  chan struct{}
	// mu is held by whoever handles what the source reports: Run's
	// goroutine, or the source's own when it handles a batch of events
	// itself (bridge.Events). queued counts the batches sent on items
	// and not yet handled: the source handles a batch itself only when
	// none is, so that the events keep the kernel's order.
	mu     sync.Mutex
	queued atomic.Int64
	view   filter.Flow

	// overrunLogAt is when an overrun was last logged; overrunsUnlogged
	// counts those since, the one being logged included.
	overrunLogAt     time.Time
	overrunsUnlogged uint64

	resyncAt, pollAt time.Time
	// timerAt is the deadline timer waits for; timer is nil when none.
	timerAt time.Time
	timer   <-chan time.Time
}

// ingestItem is one thing the event source reported.
type ingestItem struct {
	ev         ctnl.Event
	overrun    bool
	readBuffer int
	skipped    error
}

// overrunLogEvery spaces the log lines about overruns.
const overrunLogEvery = 10 * time.Second

// ingestBatch is what the event source reported in one go: the events
// it read without waiting (ctnl.BatchHandler), or one item. Handing over
// batches wakes Run once per read of the socket, not once per event.
type ingestBatch struct{ items []ingestItem }

// itemQueue is how many batches the event source may be ahead of Run:
// from 64 events, when the events come one at a time, to 64 full
// batches (about a MiB), when they come faster than Run takes them. The
// socket's own buffer holds the rest, as it holds everything for
// conntrackd, which reads the socket only when it is ready to handle what
// it reads (src/run.c).
const itemQueue = 64

// NewIngest builds the input stage. io.Events is nil in polling mode, and
// only then.
func NewIngest(s IngestSettings, io IngestIO) (*Ingest, error) {
	chain, err := filter.New(s.Filter)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	if io.Clock == nil || io.Table == nil || io.Sink == nil {
		return nil, errors.New("ingest: clock, table and sink are required")
	}
	if s.PollInterval == 0 && io.Events == nil {
		return nil, errors.New("ingest: no event source and no poll interval")
	}
	if s.PollInterval > 0 && io.Events != nil {
		// conntrackd opens no event socket in polling mode.
		return nil, errors.New("ingest: an event source in polling mode")
	}
	if io.Log == nil {
		io.Log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{
		s:        s,
		io:       io,
		own:      map[uint32]bool{},
		commit:   map[uint32]bool{},
		items:    make(chan *ingestBatch, itemQueue),
		free:     make(chan *ingestBatch, itemQueue+2),
		quit:     make(chan struct{}),
		requests: make(chan dumpRequest),
	}
	in.chain.Store(chain)
	in.s.EventIterationLimit = max(in.s.EventIterationLimit, 1)
	for _, p := range io.OwnPorts {
		in.own[p] = true
	}
	for _, p := range io.CommitPorts {
		in.commit[p] = true
	}
	in.stats.readBuffer.Store(int64(s.ReadBuffer))
	return in, nil
}

// Stats returns the counters; it may be called from any goroutine.
func (in *Ingest) Stats() IngestStats {
	c := &in.stats
	return IngestStats{
		Events: c.events.Load(), Filtered: c.filtered.Load(), OwnOrigin: c.ownOrigin.Load(), Skipped: c.skipped.Load(),
		Overruns: c.overruns.Load(), ReadBuffer: int(c.readBuffer.Load()),
		Resyncs: c.resyncs.Load(), Polls: c.polls.Load(), DumpFailures: c.dumpFailures.Load(),
		Dumped: c.dumped.Load(), DumpFiltered: c.dumpFiltered.Load(),
	}
}

// Run starts reading events, dumps the table into the sink, then hands
// events to the sink and runs the resyncs and polls when due, until ctx
// is done (it returns nil) or the event socket fails. It closes the
// event source before returning, so it is called once.
func (in *Ingest) Run(ctx context.Context) error {
	srcErr := make(chan error, 1)
	// The source's goroutine reports its end on stopped too, which turn
	// does not read, so that Run can always wait for it. quit is closed
	// first: it frees a bridge waiting for room, and answers Dump.
	var stopped chan struct{}
	defer func() {
		close(in.quit)
		if stopped != nil {
			in.io.Events.Close()
			<-stopped
		}
	}()
	if in.io.Events != nil {
		stopped = make(chan struct{})
		go func() {
			if in.io.ReaderThread != nil {
				if release := in.io.ReaderThread(); release != nil {
					defer release()
				}
			}
			err := in.io.Events.Run(bridge{in})
			srcErr <- err
			close(stopped)
		}()
	}
	in.start(in.io.Clock.Now())
	for {
		if err := in.turn(ctx, srcErr); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// start is the initial population, and the first poll's schedule.
func (in *Ingest) start(now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.dump(now, DumpStartup)
	if in.s.PollInterval > 0 {
		in.pollAt = now.Add(in.s.PollInterval)
	}
}

// turn is one turn of the loop: it waits for an event or a deadline,
// handles at most EventIterationLimit events, then what is due.
func (in *Ingest) turn(ctx context.Context, srcErr <-chan error) error {
	in.arm()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-srcErr:
		if err == nil {
			err = errors.New("the event source stopped")
		}
		return err
	case b := <-in.items:
		in.mu.Lock()
		defer in.mu.Unlock()
		now := in.io.Clock.Now()
		n := in.handleBatch(now, b)
		in.drain(now, in.s.EventIterationLimit-n)
	case <-in.timer:
		in.mu.Lock()
		defer in.mu.Unlock()
		in.timer = nil
	case r := <-in.requests:
		in.mu.Lock()
		defer in.mu.Unlock()
		var err error
		in.report = r.progress
		if !in.dump(in.io.Clock.Now(), DumpRequest) {
			err = errors.New("the dump of the kernel's table failed")
		}
		in.report = nil
		r.done <- err
	}
	in.due(in.io.Clock.Now())
	return nil
}

// drain handles queued batches without waiting, until n items are
// handled (a batch is not split).
func (in *Ingest) drain(now time.Time, n int) {
	for n > 0 {
		select {
		case b := <-in.items:
			n -= in.handleBatch(now, b)
		default:
			return
		}
	}
}

// handleBatch handles b's items, returns b for reuse, and says how many
// items it held.
func (in *Ingest) handleBatch(now time.Time, b *ingestBatch) int {
	for i := range b.items {
		in.handle(now, &b.items[i])
	}
	n := len(b.items)
	// Drop what the items point to (labels, errors) before reuse.
	clear(b.items)
	b.items = b.items[:0]
	select {
	case in.free <- b:
	default:
	}
	in.queued.Add(-1)
	return n
}

// arm makes timer fire at the next deadline, creating a timer only when
// the deadline changed.
func (in *Ingest) arm() {
	next := in.pollAt
	if !in.resyncAt.IsZero() && (next.IsZero() || in.resyncAt.Before(next)) {
		next = in.resyncAt
	}
	if next.IsZero() {
		in.timer, in.timerAt = nil, time.Time{}
		return
	}
	if in.timer != nil && next.Equal(in.timerAt) {
		return
	}
	in.timerAt = next
	in.timer = in.io.Clock.After(max(next.Sub(in.io.Clock.Now()), 0))
}

// due runs the resync and the poll whose time has come.
func (in *Ingest) due(now time.Time) {
	if !in.resyncAt.IsZero() && !now.Before(in.resyncAt) {
		in.resyncAt = time.Time{}
		in.stats.resyncs.Add(1)
		// The overruns since the last line about them, which the
		// burst's end left unlogged, are told here.
		if n := in.overrunsUnlogged; n > 0 {
			in.io.Log.Info("resynchronising with the kernel's table after an overrun", "overruns_not_logged", n)
			in.overrunsUnlogged = 0
		} else {
			in.io.Log.Info("resynchronising with the kernel's table after an overrun")
		}
		if !in.dump(now, DumpResync) {
			in.resyncAt = now.Add(in.s.OverrunResync)
		}
	}
	if !in.pollAt.IsZero() && !now.Before(in.pollAt) {
		in.stats.polls.Add(1)
		in.dump(now, DumpPoll)
		in.pollAt = now.Add(in.s.PollInterval)
	}
}

// handle is one item from the event source.
func (in *Ingest) handle(now time.Time, it *ingestItem) {
	switch {
	case it.overrun:
		in.overrun(now, it.readBuffer)
	case it.skipped != nil:
		in.stats.skipped.Add(1)
		in.io.Log.Debug("kernel event skipped", "err", it.skipped)
	default:
		in.event(now, &it.ev)
	}
}

// overrun: events were lost. conntrackd (re)arms the resync timer on
// each overrun, so a sustained overrun postpones the resync until the
// events calm down (src/run.c).
func (in *Ingest) overrun(now time.Time, readBuffer int) {
	in.stats.overruns.Add(1)
	in.stats.readBuffer.Store(int64(readBuffer))
	// A burst overruns many times a second: one line per overrunLogEvery,
	// with the count, keeps the log readable (stats count them all).
	in.overrunsUnlogged++
	if in.overrunLogAt.IsZero() || now.Sub(in.overrunLogAt) >= overrunLogEvery {
		in.io.Log.Warn("kernel events lost: the event socket's buffer overran", "read_buffer", readBuffer, "overruns", in.overrunsUnlogged)
		in.overrunLogAt, in.overrunsUnlogged = now, 0
	}
	if in.s.OverrunResync > 0 {
		in.resyncAt = now.Add(in.s.OverrunResync)
	}
}

// event is one event: origin, then filter, then the sink.
func (in *Ingest) event(now time.Time, ev *ctnl.Event) {
	in.stats.events.Add(1)
	if ev.PortID != 0 && (in.own[ev.PortID] || in.commit[ev.PortID]) {
		in.stats.ownOrigin.Add(1)
		// The filter judges them too, as conntrackd's does before it
		// looks at the origin (src/run.c): a flow it ignores would
		// stay in the sink for good, its later events being filtered.
		if in.commit[ev.PortID] && ev.Flow.Orig.IsValid() && ev.Type <= ctnl.EventDestroy &&
			(in.s.FilterInKernel || in.pass(&ev.Flow)) {
			in.io.Sink.Committed(now, ev)
		}
		return
	}
	sink := in.io.Sink
	switch ev.Type {
	case ctnl.EventNew, ctnl.EventUpdate, ctnl.EventDestroy:
		if !ev.Flow.Orig.IsValid() {
			// conntrackd's sanity check (src/ctnl.c): a flow
			// without its addresses cannot be keyed.
			in.stats.skipped.Add(1)
			return
		}
		// With the filter in the kernel, events have passed it
		// already; conntrackd does not filter them again.
		if !in.s.FilterInKernel && !in.pass(&ev.Flow) {
			in.stats.filtered.Add(1)
			return
		}
		switch ev.Type {
		case ctnl.EventNew:
			sink.NewFlow(now, &ev.Flow)
		case ctnl.EventUpdate:
			sink.UpdateFlow(now, &ev.Flow)
		default:
			sink.DestroyFlow(now, &ev.Flow)
		}
	case ctnl.EventExpNew, ctnl.EventExpDestroy:
		if ev.Expect == nil || !in.s.Expectations {
			in.stats.skipped.Add(1)
			return
		}
		if !in.helperPasses(ev.Expect.Helper) {
			in.stats.filtered.Add(1)
			return
		}
		if ev.Type == ctnl.EventExpNew {
			sink.NewExpect(now, ev.Expect)
		} else {
			sink.DestroyExpect(now, ev.Expect)
		}
	default:
		in.stats.skipped.Add(1)
	}
}

func (in *Ingest) pass(f *ctnl.Flow) bool {
	FilterFlow(&in.view, f)
	return in.chain.Load().Pass(&in.view)
}

// helperPasses is conntrackd's expectation filter (src/ctnl.c,
// exp_filter_find): with names configured, an expectation passes when
// one of them, without case, starts its helper's name, so "sip" keeps
// "sip-5060".
func (in *Ingest) helperPasses(helper string) bool {
	if len(in.s.ExpectHelpers) == 0 {
		return true
	}
	for _, h := range in.s.ExpectHelpers {
		if len(helper) >= len(h) && strings.EqualFold(helper[:len(h)], h) {
			return true
		}
	}
	return false
}

// dump streams the table (and the expectations) through the user-space
// filter into the sink, which conntrackd always filters in user space
// (src/ctnl.c, ignore_conntrack), whatever run_in says. It reports
// whether the dump completed.
func (in *Ingest) dump(now time.Time, cause DumpCause) bool {
	sink := in.io.Sink
	sink.BeginDump(now, cause)
	var read dumpProgress
	if in.report != nil {
		read = dumpProgress{report: in.report, total: in.tableCount()}
		read.report(control.Progress{Stage: DumpStage, Total: read.total})
	}
	skipped := func(err error) {
		in.stats.skipped.Add(1)
		in.io.Log.Debug("dumped entry skipped", "err", err)
	}
	// Each flow read counts once in the progress, skipped or not; the
	// expectations, dumped after the flows' last report, do not count.
	err := in.io.Table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		read.add()
		if !ev.Flow.Orig.IsValid() {
			skipped(errors.New("flow without addresses"))
			return nil
		}
		if !in.pass(&ev.Flow) {
			in.stats.dumpFiltered.Add(1)
			return nil
		}
		in.stats.dumped.Add(1)
		sink.UpdateFlow(now, &ev.Flow)
		return nil
	}, func(err error) {
		read.add()
		skipped(err)
	})
	read.end(err == nil)
	if err == nil && in.s.Expectations {
		err = in.io.Table.DumpExpect(ctnl.FamilyAll, func(ev *ctnl.Event) error {
			if ev.Expect == nil || !in.helperPasses(ev.Expect.Helper) {
				in.stats.dumpFiltered.Add(1)
				return nil
			}
			in.stats.dumped.Add(1)
			sink.NewExpect(now, ev.Expect)
			return nil
		}, skipped)
	}
	sink.EndDump(now, cause, err == nil)
	if err != nil {
		in.stats.dumpFailures.Add(1)
		in.io.Log.Error("dump of the kernel's table failed", "cause", cause.String(), "err", err)
		return false
	}
	return true
}

// FilterSetter is an event source whose kernel filter can be replaced
// while it runs (ctnl.Events).
type FilterSetter interface {
	SetFilter(prog []bpf.Instruction) error
}

// SetFilter replaces the filter with s.Filter (a reload): in the kernel
// first, when it runs there, then in user space, so that no event passes
// neither. Where the filter runs cannot change.
func (in *Ingest) SetFilter(s IngestSettings) error {
	if s.FilterInKernel != in.s.FilterInKernel {
		return errors.New("where the filter runs cannot change while running")
	}
	chain, err := filter.New(s.Filter)
	if err != nil {
		return err
	}
	if s.FilterInKernel && in.io.Events != nil {
		fs, ok := in.io.Events.(FilterSetter)
		if !ok {
			return errors.New("the event source cannot change its kernel filter")
		}
		ec, err := s.EventsConfig()
		if err != nil {
			return err
		}
		if err := fs.SetFilter(ec.Filter); err != nil {
			return err
		}
	}
	in.chain.Store(chain)
	return nil
}

// Chain returns the filter in force.
func (in *Ingest) Chain() *filter.Chain { return in.chain.Load() }

// dumpRequest is an operator's dump: where to say it is done, and how
// far it has come.
type dumpRequest struct {
	done     chan error
	progress func(control.Progress)
}

// Dump dumps the table into the sink now, between two events, and
// returns once it is done (conntrackd -R). It fails when ctx ends first,
// or Run is not running. progress, when not nil, is told how many flows
// the dump has read, of how many the kernel said its table held.
func (in *Ingest) Dump(ctx context.Context, progress func(control.Progress)) error {
	done := make(chan error, 1)
	select {
	case in.requests <- dumpRequest{done, progress}:
	case <-ctx.Done():
		return ctx.Err()
	case <-in.quit:
		return errors.New("ingest: stopped")
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bridge is the event source's Handler: it copies what it is given to
// Run's goroutine, and stops waiting when Run has returned.
type bridge struct{ in *Ingest }

func (b bridge) Event(ev *ctnl.Event) {
	bt := b.batch(1)
	bt.items = append(bt.items, ingestItem{})
	keep(&bt.items[0].ev, ev)
	b.send(bt)
}

// Events is a batch of events read together (ctnl.BatchHandler). When
// Run's goroutine is idle and nothing is queued for it, the source's
// goroutine handles the batch itself: handing it over would wake Run's
// thread for every read, which under a paced load is every event, and
// cost more than the events. Otherwise the batch is queued, in order.
func (b bridge) Events(evs []ctnl.Event) {
	in := b.in
	if in.mu.TryLock() {
		if in.queued.Load() == 0 {
			now := in.io.Clock.Now()
			for i := range evs {
				in.event(now, &evs[i])
			}
			in.mu.Unlock()
			return
		}
		in.mu.Unlock()
	}
	bt := b.batch(len(evs))
	bt.items = bt.items[:len(evs)]
	for i := range evs {
		keep(&bt.items[i].ev, &evs[i])
	}
	b.send(bt)
}

// keep copies ev into dst. The source reuses ev: keep what it points to.
func keep(dst, ev *ctnl.Event) {
	*dst = *ev
	f := &dst.Flow
	if f.Labels != nil || f.LabelsMask != nil {
		f.Labels, f.LabelsMask = bytes.Clone(f.Labels), bytes.Clone(f.LabelsMask)
	}
	if ev.Expect != nil {
		e := *ev.Expect
		dst.Expect = &e
	}
}

func (b bridge) Overrun(readBuffer int) {
	bt := b.batch(1)
	bt.items = append(bt.items, ingestItem{overrun: true, readBuffer: readBuffer})
	b.send(bt)
}

func (b bridge) Skipped(err error) {
	bt := b.batch(1)
	bt.items = append(bt.items, ingestItem{skipped: err})
	b.send(bt)
}

// batch returns an empty batch with room for n items: one Run handed
// back, or a new one.
func (b bridge) batch(n int) *ingestBatch {
	var bt *ingestBatch
	select {
	case bt = <-b.in.free:
	default:
		bt = &ingestBatch{}
	}
	if cap(bt.items) < n {
		bt.items = make([]ingestItem, 0, max(n, ctnl.MaxBatch))
	}
	return bt
}

func (b bridge) send(bt *ingestBatch) {
	b.in.queued.Add(1)
	select {
	case b.in.items <- bt:
	case <-b.in.quit:
	}
}

// DumpStage names an operator's dump of the kernel's table in its
// progress reports (ctsync resync --kernel).
const DumpStage = "kernel dump"

// dumpReportEvery is how many flows a dump reads between two progress
// reports: the control server spaces what it sends anyway, and a report
// per flow would cost the dump more than the flow.
const dumpReportEvery = 4096

// dumpProgress counts the flows a dump reads, for an operator watching.
// The zero value reports nothing.
type dumpProgress struct {
	report      func(control.Progress)
	done, total int64
}

func (d *dumpProgress) add() {
	if d.report == nil {
		return
	}
	if d.done++; d.done%dumpReportEvery == 0 {
		d.report(control.Progress{Stage: DumpStage, Done: d.done, Total: d.total})
	}
}

// end reports the last count. The kernel's count was taken before the
// dump, and flows come and go meanwhile: a complete dump reports what it
// read as the total, so that it ends at 100%.
func (d *dumpProgress) end(complete bool) {
	if d.report == nil {
		return
	}
	total := d.total
	if complete && total > 0 {
		total = d.done
	}
	d.report(control.Progress{Stage: DumpStage, Done: d.done, Total: total})
}

// TableCounter is a TableDumper that also tells how many flows the table
// holds (ctnl.Table, from the kernel's global statistics): a dump's
// progress then has a total.
type TableCounter interface {
	StatsGlobal() (ctnl.Stats, error)
}

// tableCount is the number of flows in the kernel's table, or 0 (not
// known) when the table cannot say.
func (in *Ingest) tableCount() int64 {
	tc, ok := in.io.Table.(TableCounter)
	if !ok {
		return 0
	}
	st, err := tc.StatsGlobal()
	if err != nil {
		in.io.Log.Debug("the kernel's table did not say how many flows it holds", "err", err)
		return 0
	}
	return int64(st.Entries)
}
