package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
)

// statsConf is a stats mode configuration that ignores UDP.
const statsConf = `
filter {
  stage "protocol" {
    ignore = ["udp"]
  }
}
stats {
  log_file = "/nonexistent/flows.log"
}
`

// recorder is a FlowLogOutput keeping what it is given.
type recorder struct {
	mu       sync.Mutex
	lines    []string
	reopened int
	closed   bool
	fail     error
}

func (r *recorder) Write(at time.Time, text []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.lines = append(r.lines, at.Format(time.TimeOnly)+" "+string(text))
	return nil
}

func (r *recorder) Reopen() error { r.mu.Lock(); r.reopened++; r.mu.Unlock(); return nil }
func (r *recorder) Close() error  { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	r.lines = nil
	return l
}

type flowLogTest struct {
	l     *FlowLog
	clock *fakeClock
	table *fakeTable
	out   *recorder
}

// newFlowLogTest builds stats mode on fakes, with its initial dump of
// table done; events are injected through its input's bridge and
// handled by turn, on the test's goroutine.
func newFlowLogTest(t *testing.T, rt config.Runtime, table *fakeTable, o Options) *flowLogTest {
	t.Helper()
	x := &flowLogTest{clock: newFakeClock(), table: table, out: &recorder{}}
	l, err := NewFlowLog(rt, FlowLogIO{Clock: x.clock, Events: newFakeSource(), Table: table, Out: x.out}, o)
	if err != nil {
		t.Fatal(err)
	}
	x.l = l
	l.ingest.start(x.clock.Now())
	select {
	case <-l.Ready():
	default:
		t.Fatal("not ready after the initial dump")
	}
	return x
}

func (x *flowLogTest) events(t *testing.T, evs ...ctnl.Event) {
	t.Helper()
	for i := range evs {
		bridge{x.l.ingest}.Event(&evs[i])
	}
	// A turn handles up to EventIterationLimit queued events.
	for len(x.l.ingest.items) > 0 {
		if err := x.l.ingest.turn(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// lines is what a control request emitted.
func lines(t *testing.T, fn func(control.Emit) error) []string {
	t.Helper()
	var out []string
	if err := fn(func(b []byte) error { out = append(out, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// ended is a destroy event's flow: state, counters, timestamps.
func ended(f *ctnl.Flow, packets, bytes uint64, start time.Time, life time.Duration) *ctnl.Flow {
	g := *f
	g.Timeout = 0
	g.Present |= ctnl.HasCounters
	g.Counters = [2]ctnl.Counters{{Packets: packets, Bytes: bytes}, {Packets: packets, Bytes: bytes}}
	g.Start, g.Stop = start, start.Add(life)
	return &g
}

// What is logged, and what is not: a flow is logged when it ends if the
// cache held it (from the initial dump or an event) and the filter let
// it in, with the counters of the destroy event.
func TestFlowLogEnded(t *testing.T) {
	dumped := tcp("198.18.1.1", 1)
	dumped.Present |= ctnl.HasProtoInfo
	dumped.TCP.State = 3
	dumped.Status |= ctnl.StatusSeenReply | ctnl.StatusAssured
	dumped.Mark = 7
	fresh := tcp("198.18.1.2", 2)
	udp := flowOf(17, "198.18.0.1", "198.18.1.3", 53, 53)
	unknown := tcp("198.18.1.4", 4)
	t0 := newFakeClock().Now()

	x := newFlowLogTest(t, runtimeOf(t, statsConf), newFakeTable(dumped), Options{})
	x.clock.Advance(90 * time.Second)
	x.events(t,
		eventOf(ctnl.EventNew, fresh, 0),
		eventOf(ctnl.EventNew, udp, 0),
		eventOf(ctnl.EventDestroy, ended(dumped, 3, 180, t0, 89*time.Second), 0),
		eventOf(ctnl.EventDestroy, ended(fresh, 1, 60, t0, 0), 0),
		eventOf(ctnl.EventDestroy, udp, 0),
		eventOf(ctnl.EventDestroy, unknown, 0),
	)
	want := []string{
		"00:01:30 tcp      6 ESTABLISHED src=198.18.0.1 dst=198.18.1.1 sport=1 dport=80 packets=3 bytes=180 src=198.18.1.1 dst=198.18.0.1 sport=80 dport=1 packets=3 bytes=180 [ASSURED] mark=7 delta-time=89",
		"00:01:30 tcp      6 src=198.18.0.1 dst=198.18.1.2 sport=2 dport=80 packets=1 bytes=60 [UNREPLIED] src=198.18.1.2 dst=198.18.0.1 sport=80 dport=2 packets=1 bytes=60 delta-time=0",
	}
	if got := x.out.take(); !slices.Equal(got, want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := x.l.Snapshot()
	if s.Traffic.Packets != 8 || s.Traffic.Bytes != 480 {
		t.Errorf("traffic %+v, want both directions of the logged flows: 8 packets, 480 bytes", s.Traffic)
	}
	if s.Internal.Active != 0 || s.Internal.Created != 2 || s.Internal.Destroyed != 2 {
		t.Errorf("cache counters %+v, want 2 created, 2 destroyed, none active", *s.Internal)
	}
}

// A dump after lost events (or a resync) finds the flows that ended
// meanwhile: they are logged from the cache, without counters.
func TestFlowLogDumpFindsEnded(t *testing.T) {
	a, b := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2)
	table := newFakeTable(a, b)
	x := newFlowLogTest(t, runtimeOf(t, statsConf), table, Options{})
	x.clock.Advance(time.Second)
	table.set(a)
	if ok := x.l.ingest.dump(x.clock.Now(), DumpResync); !ok {
		t.Fatal("dump failed")
	}
	want := []string{"00:00:01 tcp      6 src=198.18.0.1 dst=198.18.1.2 sport=2 dport=80 [UNREPLIED] src=198.18.1.2 dst=198.18.0.1 sport=80 dport=2"}
	if got := x.out.take(); !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
	// An incomplete dump proves nothing gone.
	x.clock.Advance(time.Second)
	table.set()
	table.fail = 0
	x.l.ingest.dump(x.clock.Now(), DumpResync)
	if got := x.out.take(); len(got) != 0 {
		t.Errorf("a failed dump logged %q", got)
	}
}

// The control requests stats mode answers, and those it refuses.
func TestFlowLogHandler(t *testing.T) {
	a := tcp("198.18.1.1", 1)
	table := newFakeTable(a)
	x := newFlowLogTest(t, runtimeOf(t, statsConf), table, Options{})
	ctx := context.Background()
	x.clock.Advance(3 * time.Second)

	got := lines(t, func(e control.Emit) error { return x.l.Dump(ctx, control.Internal, control.Text, e) })
	want := []string{"tcp      6 src=198.18.0.1 dst=198.18.1.1 sport=1 dport=80 [UNREPLIED] src=198.18.1.1 dst=198.18.0.1 sport=80 dport=1 mark=0 [active since 3s]"}
	if !slices.Equal(got, want) {
		t.Errorf("dump: %q, want %q", got, want)
	}
	stats := strings.Join(lines(t, func(e control.Emit) error { return x.l.Stats(ctx, control.Text, e) }), "\n")
	for _, w := range []string{"cache stats:\ncurrent active connections:\t           1\n", "traffic processed:\n                   0 Bytes                         0 Pckts\n", "netlink stats:"} {
		if !strings.Contains(stats, w) {
			t.Errorf("stats lack %q:\n%s", w, stats)
		}
	}

	js := lines(t, func(e control.Emit) error { return x.l.Stats(ctx, control.JSON, e) })
	if len(js) != 1 || !json.Valid([]byte(js[0])) || !strings.Contains(js[0], `"stats"`) {
		t.Errorf("stats as JSON: %q", js)
	}

	// Flushed, the flow is no longer logged when it ends.
	if err := x.l.Flush(ctx, control.Internal); err != nil {
		t.Fatal(err)
	}
	x.events(t, eventOf(ctnl.EventDestroy, a, 0))
	if got := x.out.take(); len(got) != 0 {
		t.Errorf("a flow ended after a flush was logged: %q", got)
	}
	// resync --kernel reads the table again (Run serves it).
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.l.Run(runCtx) }()
	if err := x.l.Resync(ctx, true, nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := x.l.Snapshot().Internal.Active; n != 1 {
		t.Errorf("after resync --kernel the cache holds %d flows, want 1", n)
	}

	refused := map[string]error{
		"commit":         x.l.Commit(ctx, nil),
		"bulk":           x.l.Bulk(ctx),
		"purge":          x.l.Purge(ctx),
		"resync":         x.l.Resync(ctx, false, nil),
		"flush external": x.l.Flush(ctx, control.External),
		"dump external":  x.l.Dump(ctx, control.External, control.Text, func([]byte) error { return nil }),
	}
	for what, err := range refused {
		if err == nil || !strings.Contains(err.Error(), "stats mode") {
			t.Errorf("%s: %v, want a refusal naming stats mode", what, err)
		}
	}
}

// A reload reopens the flow log (logrotate), moves it when its settings
// changed, and keeps stats mode.
func TestFlowLogReload(t *testing.T) {
	rt := runtimeOf(t, statsConf)
	next := rt
	var loadErr error
	var reloaded []config.Runtime
	x := newFlowLogTest(t, rt, newFakeTable(), Options{
		Load:     func() (config.Runtime, error) { return next, loadErr },
		Reloaded: func(rt config.Runtime) { reloaded = append(reloaded, rt) },
	})
	var opened []config.StatsSettings
	moved := &recorder{}
	x.l.openOut = func(s config.StatsSettings) (FlowLogOutput, error) {
		opened = append(opened, s)
		return moved, nil
	}
	ctx := context.Background()
	if err := x.l.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if x.out.reopened != 1 || len(opened) != 0 {
		t.Errorf("same settings: reopened %d times, opened %v; want one reopen", x.out.reopened, opened)
	}
	next.Stats.LogFile = "/elsewhere/flows.log"
	if err := x.l.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(opened) != 1 || opened[0].LogFile != "/elsewhere/flows.log" || !x.out.closed {
		t.Errorf("new file: opened %v, old closed %v; want the new one opened and the old closed", opened, x.out.closed)
	}
	next.Metrics.Listen = "127.0.0.1:9724"
	if err := x.l.Reload(ctx); err == nil || !strings.Contains(err.Error(), "the metrics endpoint changed") {
		t.Errorf("a new metrics endpoint: %v, want a refusal", err)
	}
	next.Metrics.Listen = ""
	next.Mode = config.ModeSync
	if err := x.l.Reload(ctx); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("a change of mode: %v, want a refusal", err)
	}
	loadErr = errors.New("bad file")
	if err := x.l.Reload(ctx); err == nil || !strings.Contains(err.Error(), "bad file") {
		t.Errorf("a file that does not load: %v", err)
	}
	if len(reloaded) != 2 {
		t.Errorf("Reloaded called %d times, want 2", len(reloaded))
	}
}

// A failing output is reported once, not once per flow, and again when
// it works.
func TestFlowLogWriteFailure(t *testing.T) {
	a, b, c := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2), tcp("198.18.1.3", 3)
	var logged strings.Builder
	x := newFlowLogTest(t, runtimeOf(t, statsConf), newFakeTable(a, b, c), Options{Log: testLogger(&logged)})
	x.out.fail = errors.New("no space left on device")
	x.events(t, eventOf(ctnl.EventDestroy, a, 0), eventOf(ctnl.EventDestroy, b, 0))
	x.out.fail = nil
	x.events(t, eventOf(ctnl.EventDestroy, c, 0))
	if n := strings.Count(logged.String(), "writing the flow log failed"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "works again") || len(x.out.take()) != 1 {
		t.Errorf("recovery not logged or line lost:\n%s", logged.String())
	}
}

func TestNewFlowLogRefusesSyncMode(t *testing.T) {
	rt := runtimeOf(t, statsConf)
	rt.Mode = config.ModeSync
	_, err := NewFlowLog(rt, FlowLogIO{Clock: newFakeClock(), Events: newFakeSource(), Table: newFakeTable(), Out: &recorder{}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "not stats") {
		t.Errorf("got %v, want a refusal", err)
	}
}

func testLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
