// Package engine runs ctsync's sync pipeline: kernel events through
// filters, caches and sync modes to the links and the peer's kernel. It
// composes the pipeline from a config.Runtime and translates the
// configuration into each package's own settings, so that link, filter
// and the kernel I/O package never see config (and the HCL and YAML
// decoders it brings along).
//
// An Engine owns the caches and the sync mode, and serialises every
// change to them with one lock, taken by its stages:
//
//   - the input stage (Ingest, ingest*.go) feeds kernel events and dumps
//     through the origin check and the filter into the internal cache
//     (sink.go), which tells the sync mode what changed;
//   - the receiver (peer.go) hands the peer's datagrams to the sync mode,
//     which writes the external cache (or, without one, the kernel);
//   - the transmitter (Run's own loop) runs the mode's timers and sends
//     what it queued, in as few datagrams as the load allows;
//   - the operations (ops.go) commit, flush, purge, resynchronise and
//     bulk-send when the control socket asks (control.Handler).
//
// The conversions between the kernel's, the cache's, the sync link's and
// the filter's forms of a flow are in convert_*.go, as conntrackd's
// build.c and parse.c.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// KernelWriter applies requests to the kernel's table: ctnl.Writer, or a
// test's fake. It is used by one goroutine at a time.
type KernelWriter interface {
	Apply(reqs []ctnl.Request, errs []error) error
	// PortID is the socket's netlink port id, by which the engine knows
	// the events its own writes cause.
	PortID() uint32
}

// Peer is the sync link to the peers: a link.Group (through GroupPeer),
// or a test's pipe.
type Peer interface {
	// Send transmits one datagram of whole messages.
	Send(datagram []byte) error
	// Recv blocks for the next datagram and says on which link it came.
	// After Close it returns an error wrapping net.ErrClosed.
	Recv(buf []byte) (n, link int, err error)
	// Valid and Malformed report what the sync mode made of a datagram
	// received on link: the group follows the peer to a link that
	// works, and counts what did not decode.
	Valid(link int)
	Malformed(link int)
	// MaxDatagram is the largest datagram Send takes without
	// fragmenting.
	MaxDatagram() int
	// Status describes the links for the stats.
	Status() []link.LinkStatus
	Close() error
}

// IO is the engine's I/O, opened by Open (or a test).
type IO struct {
	Clock Clock
	// Events is the kernel's event socket, subscribed before Run dumps
	// the table; nil in polling mode. Run closes it.
	Events EventSource
	// Table dumps the kernel's table, for the input stage and for a
	// purge; the engine serialises its use.
	Table TableDumper
	// Commit writes commits and purges; the events it causes enter the
	// internal cache without being sent (conntrackd's commit origin).
	Commit KernelWriter
	// Inject writes received flows when the external cache is disabled;
	// the events it causes are ignored. Nil otherwise.
	Inject KernelWriter
	// Peer carries the sync messages. Run closes it.
	Peer Peer
	// Lookup, with the external cache disabled, finds in the kernel a
	// received flow whose ports are in doubt (ResolvePorts); it is used
	// by the receiver alone, under the engine's lock, so it is not
	// Table (a dump holds that while it takes the lock). Nil: the
	// ports of such flows are dropped.
	Lookup FlowLookup
}

// FlowLookup finds one flow in the kernel's table: ctnl.Table, or a
// test's fake. Its error for a flow the table lacks wraps ENOENT.
type FlowLookup interface {
	Get(orig ctnl.Tuple, zone uint16) (ctnl.Flow, error)
}

// Options are what an engine needs besides its configuration and I/O.
type Options struct {
	// Log receives what an operator should know; nil discards it.
	Log *slog.Logger
	// Load re-reads the configuration for Reload; nil: reloads are
	// refused.
	Load func() (config.Runtime, error)
	// Reloaded is called with each configuration a reload applied, for
	// what the daemon around the engine owns (its log).
	Reloaded func(config.Runtime)
	// BatchWindow is how long the transmitter lets changes gather after
	// the first one before it sends, so that messages share datagrams;
	// Open sets DefaultBatchWindow, 0 sends at once.
	BatchWindow time.Duration
	// EventThread, when set, is called first on the goroutine that
	// reads the kernel's event socket, and release (when not nil) when
	// it ends. The daemon locks the goroutine to its thread there and
	// puts that thread alone under the configured real-time policy
	// (internal/rtsched.LockThread), so that it reads the events as
	// promptly as conntrackd's one real-time thread: an overrun loses
	// them. The sync links' readers are left out: FT-FW recovers a
	// datagram lost, and a locked reader hands every datagram to the
	// receiver through a thread switch, which raised the receiver's CPU
	// per event from 2.0–2.6 µs to 3.8–3.9 and doubled a bulk send's
	// wall time (internal/figures at 100k).
	EventThread func() (release func())
}

// DefaultBatchWindow is the daemon's BatchWindow. Under a real-time
// scheduler (conntrackd's default, SCHED_RR at 99) the transmitter woke
// for nearly every event: at 80k events/s datagrams carried 6 to 10
// messages instead of 17 and the sender spent a fifth more CPU per
// event. A millisecond is nothing beside FT-FW's timers (a second).
const DefaultBatchWindow = time.Millisecond

// Engine is one node's sync pipeline. Several may run in one process.
type Engine struct {
	o   Options
	io  IO
	log *slog.Logger

	// mu guards the caches, the mode and everything the stages share
	// below it.
	mu       sync.Mutex
	rt       config.Runtime
	conv     ConvertOptions
	internal *cache.Flows
	external *cache.Flows // nil: disabled, received flows go to the kernel
	// iexp and eexp are the expectation caches, nil unless
	// expectation_sync (eexp also when the external cache is disabled).
	iexp, eexp *cache.Expects
	mode       *syncmode.Mode
	sink       sinkState
	inject     injector
	purgeAt    time.Time // a scheduled purge (zero: none)
	// purgeGen is bumped by what cancels a purge (a commit, a flush), so
	// that a purge taken by the transmitter but still waiting for a
	// commit to end does not then undo that commit.
	purgeGen uint64
	// bulkRunning says a bulk send of the kernel's table (bulkDirect)
	// runs; bulkAgain that another was asked for meanwhile, which it
	// then does once for all of them.
	bulkRunning, bulkAgain bool
	// stopping is set when Run ends: no background work starts after
	// it, and what runs stops early where it can.
	stopping bool
	// bg counts the background work (a purge, a bulk send of the
	// kernel's table) that Run waits for before it returns.
	bg sync.WaitGroup

	ingest *Ingest
	table  lockedTable
	// peer is io.Peer, or the links a reload opened instead; openPeer
	// opens links (nil: a reload cannot change them).
	peer     *peerSwitch
	openPeer func([]config.LinkSettings) (Peer, error)
	// maxDatagram is what the sync mode packs its datagrams up to, set
	// once: links that carry less cannot replace the current ones.
	maxDatagram int

	// kick wakes the transmitter: something was queued.
	kick  chan struct{}
	ready chan struct{}
	// alive is taken by the transmitter between rounds (Alive).
	alive chan struct{}
	// opMu makes commits and purges one at a time; busy says one runs,
	// so that a flush can be refused meanwhile, as conntrackd does.
	opMu sync.Mutex
	busy atomic.Bool

	// readyW remembers what Readiness answered last (under mu).
	readyW readyWatch

	counters     counters
	controlStats atomic.Pointer[func() control.ServerStats]
	// commitProgress and resyncProgress are for the stats.
	commitProgress, resyncProgress opProgress
	started                        time.Time
	// closers close what Open opened and Run does not (the table and
	// the writers).
	closers []func() error
	closed  chan struct{}
	closeMu sync.Once
}

// counters are the engine's own, beside those of its stages.
type counters struct {
	commits, committed, commitFailed atomic.Uint64
	purges, purged                   atomic.Uint64
	injected, injectFailed           atomic.Uint64
	recvErrors                       atomic.Uint64
	resyncRequests                   atomic.Uint64
	refused                          atomic.Uint64 // flows the internal cache had no room for
}

// New composes an engine from a validated configuration and its I/O.
// Nothing runs before Run.
func New(rt config.Runtime, io IO, o Options) (*Engine, error) {
	if rt.Mode != config.ModeSync {
		return nil, fmt.Errorf("engine: mode %s is not supported (only sync)", rt.Mode)
	}
	if io.Clock == nil {
		io.Clock = SystemClock{}
	}
	if io.Table == nil || io.Commit == nil || io.Peer == nil {
		return nil, errors.New("engine: a table, a commit writer and a peer are required")
	}
	if !rt.Caches.External.Enabled && io.Inject == nil {
		return nil, errors.New("engine: the external cache is disabled and there is no inject writer")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		o: o, io: io, log: o.Log, rt: rt,
		conv:   SyncConvertOptions(rt.Sync),
		kick:   make(chan struct{}, 1),
		ready:  make(chan struct{}),
		alive:  make(chan struct{}),
		closed: make(chan struct{}),
	}
	e.table.t = io.Table
	e.peer = newPeerSwitch(io.Peer)
	now := io.Clock.Now()
	e.started = now
	var err error
	// Without an internal cache (NOTRACK only, as validation says), events
	// go straight to the link (conntrackd's src/internal_bypass.c).
	if rt.Caches.Internal.Enabled {
		if e.internal, err = cache.NewFlows(tierSettings(rt.Caches.Internal, 0)); err != nil {
			return nil, fmt.Errorf("internal cache: %w", err)
		}
	}
	if rt.Caches.External.Enabled {
		var life time.Duration
		if rt.Sync.Mode == config.SyncAlarm {
			life = rt.Sync.CacheTimeout
		}
		if e.external, err = cache.NewFlows(tierSettings(rt.Caches.External, life)); err != nil {
			return nil, fmt.Errorf("external cache: %w", err)
		}
	}
	ms, err := e.modeSettings(rt)
	if err != nil {
		return nil, err
	}
	conv := syncmode.Convert{
		ToWire:       e.toWire,
		FromWire:     CacheFromWire,
		ResolvePorts: ResolvePorts,
	}
	if e.internal == nil {
		ms.BulkDirect = e.bulkDirect
	}
	if e.external == nil {
		e.inject.init(e, io.Inject, io.Lookup)
		ms.Inject = e.inject.flow
		ms.InjectExpect = e.inject.expect
		if io.Lookup != nil {
			ms.Known = e.inject.known
		}
	}
	if e.mode, err = syncmode.New(ms, conv, e.internal, e.external, []syncmode.Sender{e.peer}, now); err != nil {
		return nil, err
	}
	if rt.Sync.ExpectationSync && e.internal != nil {
		if e.iexp, err = cache.NewExpects(tierSettings(rt.Caches.Internal, 0)); err != nil {
			return nil, fmt.Errorf("internal expectation cache: %w", err)
		}
		if e.external != nil {
			var life time.Duration
			if rt.Sync.Mode == config.SyncAlarm {
				life = rt.Sync.CacheTimeout
			}
			if e.eexp, err = cache.NewExpects(tierSettings(rt.Caches.External, life)); err != nil {
				return nil, fmt.Errorf("external expectation cache: %w", err)
			}
		}
		e.mode.SetExpectations(e.iexp, e.eexp, syncmode.ExpectConvert{ToWire: e.expToWire, FromWire: CacheExpectFromWire})
	}
	is, err := IngestSettingsFor(rt)
	if err != nil {
		return nil, err
	}
	iio := IngestIO{
		Clock:        io.Clock,
		Events:       io.Events,
		Table:        &e.table,
		Sink:         engineSink{e},
		CommitPorts:  []uint32{io.Commit.PortID()},
		Log:          e.log.With("stage", "ingest"),
		ReaderThread: o.EventThread,
	}
	if io.Inject != nil {
		iio.OwnPorts = []uint32{io.Inject.PortID()}
	}
	if e.ingest, err = NewIngest(is, iio); err != nil {
		return nil, err
	}
	return e, nil
}

// tierSettings translates a cache tier: conntrackd's HashSize is a
// bucket hint, HashLimit the bound.
func tierSettings(t config.CacheTier, life time.Duration) cache.Settings {
	return cache.Settings{Buckets: t.Size, Limit: t.Limit, Lifetime: life}
}

// modeSettings translates the sync mode.
func (e *Engine) modeSettings(rt config.Runtime) (syncmode.Settings, error) {
	e.maxDatagram = e.peer.MaxDatagram()
	s := syncmode.Settings{MaxDatagram: e.maxDatagram}
	switch rt.Sync.Mode {
	case config.SyncFTFW:
		s.Kind = syncmode.FTFW
		s.FTFW = ftfw.Config{
			ResendQueueSize: rt.Sync.ResendQueueSize,
			ACKWindowSize:   rt.Sync.ACKWindowSize,
			ResendTimeout:   ftfw.DefaultResendTimeout,
		}
	case config.SyncNotrack:
		s.Kind = syncmode.NoTrack
	case config.SyncAlarm:
		s.Kind = syncmode.Alarm
		s.RefreshTime = rt.Sync.RefreshTime
	default:
		return s, fmt.Errorf("engine: sync mode %s is not supported", rt.Sync.Mode)
	}
	return s, nil
}

// toWire is the mode's conversion to the wire, with the options of the
// configuration in force.
func (e *Engine) toWire(dst *wire.Flow, f *cache.Flow) { WireFromCache(dst, f, e.conv) }

func (e *Engine) expToWire(dst *wire.Expect, x *cache.Expect) { WireExpectFromCache(dst, x, e.conv) }

// Ready is closed once the engine serves: the kernel's table is in the
// internal cache and the links are up.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Run runs the pipeline until ctx is done (it returns nil) or a stage
// fails for good (the event socket). It closes the event source and the
// peer before returning; it is called once.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := e.ingest.Run(ctx); err != nil {
			errc <- fmt.Errorf("kernel events: %w", err)
		}
		cancel()
	}()
	go func() {
		defer wg.Done()
		e.receive(ctx)
	}()
	e.mu.Lock()
	if e.rt.Sync.StartupResync {
		e.log.Info("resync requested")
		e.counters.resyncRequests.Add(1)
		e.mode.RequestResync()
		e.readyW.asked = e.io.Clock.Now()
	}
	e.mu.Unlock()
	e.wake()
	e.transmit(ctx)
	e.peer.Close()
	wg.Wait()
	// Nothing starts background work past this point (bg.Add happens
	// under e.mu, unless stopping, or on this goroutine in transmit), so
	// that Close, after Run, does not close the sockets under it.
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	e.bg.Wait()
	e.closeMu.Do(func() { close(e.closed) })
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Close closes what Open opened. Call it after Run has returned (or
// instead of Run).
func (e *Engine) Close() error {
	var first error
	for _, c := range e.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	e.closers = nil
	return first
}

// wake tells the transmitter that something is queued.
func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// transmit is the engine's own loop: it sends what the stages queued and
// runs the mode's timers and a scheduled purge, until ctx is done.
// Sending after a batch of changes rather than after each one lets
// messages share datagrams under load, as conntrackd's transmit queue
// does.
func (e *Engine) transmit(ctx context.Context) {
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		now := e.io.Clock.Now()
		e.mu.Lock()
		if t := e.mode.NextTimer(); !t.IsZero() && !now.Before(t) {
			e.mode.Tick(now)
		}
		if err := e.mode.Flush(now); err != nil {
			e.log.Debug("sync send failed", "err", err)
		}
		next := e.mode.NextTimer()
		purge := !e.purgeAt.IsZero() && !now.Before(e.purgeAt)
		gen := e.purgeGen
		if purge {
			e.purgeAt = time.Time{} // taken: once
		} else if !e.purgeAt.IsZero() && (next.IsZero() || e.purgeAt.Before(next)) {
			next = e.purgeAt
		}
		e.mu.Unlock()
		if purge {
			e.bg.Add(1)
			go func() {
				defer e.bg.Done()
				e.runPurge(gen)
			}()
		}
		if next.IsZero() {
			timer, timerAt = nil, time.Time{}
		} else if timer == nil || !next.Equal(timerAt) {
			timerAt = next
			timer = e.io.Clock.After(max(next.Sub(now), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
			if w := e.o.BatchWindow; w > 0 {
				select {
				case <-ctx.Done():
					return
				case <-e.io.Clock.After(w):
				}
			}
		case <-timer:
			timer = nil
		case <-e.alive: // Alive: one round more does no harm
		}
	}
}

// lockedTable serialises the input stage's dumps and the operations'.
type lockedTable struct {
	mu sync.Mutex
	t  TableDumper
}

func (l *lockedTable) Dump(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Dump(family, fn, skipped)
}

// StatsGlobal asks the table for its count, when it can say.
func (l *lockedTable) StatsGlobal() (ctnl.Stats, error) {
	tc, ok := l.t.(TableCounter)
	if !ok {
		return ctnl.Stats{}, errors.New("the table does not count its flows")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return tc.StatsGlobal()
}

func (l *lockedTable) DumpExpect(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.DumpExpect(family, fn, skipped)
}
