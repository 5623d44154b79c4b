package engine

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
)

const writerPort = 4242

// ignoreUDP is a filter dropping UDP flows.
var ignoreUDP = filter.Settings{Stages: []filter.Stage{{Kind: filter.KindProtocol, Policy: filter.Ignore, Protocols: []uint8{17}}}}

type ingestTest struct {
	in    *Ingest
	clock *fakeClock
	table *fakeTable
	sink  *fakeSink
}

// newIngestTest builds an Ingest on fakes, with its initial dump done;
// events are injected through its bridge and handled by turn.
func newIngestTest(t *testing.T, s IngestSettings, table *fakeTable) *ingestTest {
	t.Helper()
	x := &ingestTest{clock: newFakeClock(), table: table, sink: newFakeSink()}
	io := IngestIO{Clock: x.clock, Table: table, Sink: x.sink, OwnPorts: []uint32{writerPort}}
	if s.PollInterval == 0 {
		io.Events = newFakeSource()
	}
	in, err := NewIngest(s, io)
	if err != nil {
		t.Fatal(err)
	}
	x.in = in
	in.start(x.clock.Now())
	x.sink.takeLog()
	return x
}

func (x *ingestTest) inject(evs ...ctnl.Event) {
	for i := range evs {
		bridge{x.in}.Event(&evs[i])
	}
}

// turn runs one turn of the loop; something must be ready.
func (x *ingestTest) turn(t *testing.T) {
	t.Helper()
	if err := x.in.turn(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// Events caused by our own writes (the writer's port id) are dropped and
// counted; the kernel's own (port 0) and another program's pass.
func TestIngestOrigin(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10}, newFakeTable())
	a, b, c := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2), tcp("198.18.1.3", 3)
	x.inject(eventOf(ctnl.EventNew, a, writerPort), eventOf(ctnl.EventNew, b, 0), eventOf(ctnl.EventNew, c, 777), eventOf(ctnl.EventDestroy, b, writerPort))
	x.turn(t)
	want := []string{"new " + b.Orig.String(), "new " + c.Orig.String()}
	if got := x.sink.takeLog(); !slices.Equal(got, want) {
		t.Errorf("sink got %q, want %q", got, want)
	}
	if st := x.in.Stats(); st.Events != 4 || st.OwnOrigin != 2 {
		t.Errorf("stats %+v, want 4 events, 2 of our own origin", st)
	}
}

// The user-space filter judges events, unless it runs in the kernel;
// dumps are judged in user space in both cases.
func TestIngestFilter(t *testing.T) {
	udp := flowOf(17, "198.18.0.1", "198.18.1.9", 53, 53)
	for _, tc := range []struct {
		name             string
		inKernel         bool
		wantEvent        bool
		wantEventFiltere uint64
	}{
		{"user", false, false, 1},
		{"kernel", true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, Filter: ignoreUDP, FilterInKernel: tc.inKernel},
				newFakeTable(udp, tcp("198.18.1.1", 1)))
			if got, want := x.sink.keys(), []string{flowKey(tcp("198.18.1.1", 1))}; !slices.Equal(got, want) {
				t.Errorf("after the initial dump the sink holds %q, want %q", got, want)
			}
			x.inject(eventOf(ctnl.EventUpdate, udp, 0), eventOf(ctnl.EventNew, tcp("198.18.1.2", 2), 0))
			x.turn(t)
			log := x.sink.takeLog()
			gotUDP := slices.Contains(log, "update "+udp.Orig.String())
			if gotUDP != tc.wantEvent || !slices.Contains(log, "new "+tcp("198.18.1.2", 2).Orig.String()) {
				t.Errorf("sink got %q; want the UDP event %v and the TCP one", log, tc.wantEvent)
			}
			st := x.in.Stats()
			if st.Filtered != tc.wantEventFiltere || st.DumpFiltered != 1 || st.Dumped != 1 {
				t.Errorf("stats %+v, want %d filtered events, 1 filtered and 1 dumped entry", st, tc.wantEventFiltere)
			}
		})
	}
}

// An overrun schedules a resync after OverrunResync; another overrun
// pushes it back. The resync's dump reconciles the sink with the table:
// flows gone from the table are destroyed, new ones added.
func TestIngestOverrunResync(t *testing.T) {
	a, b, c := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2), tcp("198.18.1.3", 3)
	table := newFakeTable(a, b)
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, OverrunResync: 30 * time.Second}, table)

	bridge{x.in}.Overrun(8192)
	x.turn(t)
	x.clock.Advance(10 * time.Second)
	bridge{x.in}.Overrun(16384)
	x.turn(t)
	// Events lost meanwhile: b went away, c came.
	table.set(a, c)
	x.clock.Advance(29 * time.Second)
	x.in.arm()
	if want := x.clock.Now().Add(time.Second); !x.in.timerAt.Equal(want) {
		t.Errorf("resync due at %v, want %v (30s after the last overrun)", x.in.timerAt, want)
	}
	if log := x.sink.takeLog(); len(log) != 0 || table.dumps != 1 {
		t.Fatalf("before the resync is due: sink got %q, %d dumps", log, table.dumps)
	}
	x.clock.Advance(time.Second)
	x.turn(t)
	if got, want := x.sink.keys(), []string{flowKey(a), flowKey(c)}; !slices.Equal(got, want) {
		t.Errorf("after the resync the sink holds %q, want %q", got, want)
	}
	if log := x.sink.takeLog(); len(log) == 0 || log[0] != "begin resync" || log[len(log)-1] != "end resync complete=true" {
		t.Errorf("sink got %q, want a complete resync dump", log)
	}
	st := x.in.Stats()
	if st.Overruns != 2 || st.Resyncs != 1 || st.ReadBuffer != 16384 {
		t.Errorf("stats %+v, want 2 overruns, 1 resync, read buffer 16384", st)
	}
	if x.in.arm(); x.in.timer != nil {
		t.Errorf("a timer is still armed for %v after the resync", x.in.timerAt)
	}
}

// With overrun_resync off, an overrun is counted and nothing else happens.
func TestIngestOverrunNoResync(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10}, newFakeTable())
	bridge{x.in}.Overrun(0)
	x.turn(t)
	if x.in.arm(); x.in.timer != nil {
		t.Errorf("a resync is scheduled at %v with overrun_resync off", x.in.timerAt)
	}
	if st := x.in.Stats(); st.Overruns != 1 || st.Resyncs != 0 {
		t.Errorf("stats %+v, want 1 overrun, no resync", st)
	}
}

// A resync whose dump fails leaves the sink's entries alone and is tried
// again after OverrunResync.
func TestIngestResyncFails(t *testing.T) {
	a, b := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2)
	table := newFakeTable(a, b)
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, OverrunResync: 30 * time.Second}, table)
	bridge{x.in}.Overrun(0)
	x.turn(t)
	table.set(a)
	table.fail = 1 // a is delivered, then the dump fails
	x.clock.Advance(30 * time.Second)
	x.turn(t)
	if got, want := x.sink.keys(), []string{flowKey(a), flowKey(b)}; !slices.Equal(got, want) {
		t.Errorf("after a failed resync the sink holds %q, want %q", got, want)
	}
	if log := x.sink.takeLog(); log[len(log)-1] != "end resync complete=false" {
		t.Errorf("sink got %q, want an incomplete resync", log)
	}
	table.fail = -1
	x.clock.Advance(30 * time.Second)
	x.turn(t)
	if got, want := x.sink.keys(), []string{flowKey(a)}; !slices.Equal(got, want) {
		t.Errorf("after the second resync the sink holds %q, want %q", got, want)
	}
	if st := x.in.Stats(); st.Resyncs != 2 || st.DumpFailures != 1 {
		t.Errorf("stats %+v, want 2 resyncs, 1 failed", st)
	}
}

// One turn of the loop handles at most EventIterationLimit events, then
// runs what is due: a resync is not starved by a flood of events.
func TestIngestIterationLimit(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 3, OverrunResync: time.Second}, newFakeTable())
	bridge{x.in}.Overrun(0)
	x.turn(t)
	x.clock.Advance(time.Second)
	for i := range 8 {
		x.inject(eventOf(ctnl.EventNew, tcp("198.18.1.1", uint16(i)), 0))
	}
	// A turn wakes up for the events or for the timer (select picks
	// either), and runs what is due at its end in both cases.
	var perTurn []int
	resyncTurn, total := 0, 0
	for turn := 1; total < 8 && turn <= 5; turn++ {
		x.turn(t)
		n := 0
		for _, l := range x.sink.takeLog() {
			if strings.HasPrefix(l, "new ") {
				n++
			}
			if l == "begin resync" {
				resyncTurn = turn
			}
		}
		perTurn = append(perTurn, n)
		total += n
	}
	if total != 8 || slices.Max(perTurn) != 3 {
		t.Errorf("events per turn %v, want all 8 in turns of at most 3", perTurn)
	}
	if resyncTurn != 1 {
		t.Errorf("resync in turn %d, want it in the first, before the queued events are through", resyncTurn)
	}
}

// In polling mode the table is dumped every poll interval, and the sink
// follows it: flows gone are destroyed, new ones added.
func TestIngestPoll(t *testing.T) {
	a, b, c := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2), tcp("198.18.1.3", 3)
	table := newFakeTable(a, b)
	x := newIngestTest(t, IngestSettings{PollInterval: 10 * time.Second, Filter: ignoreUDP}, table)
	if got, want := x.sink.keys(), []string{flowKey(a), flowKey(b)}; !slices.Equal(got, want) {
		t.Errorf("after start the sink holds %q, want %q", got, want)
	}
	table.set(b, c, flowOf(17, "198.18.0.1", "198.18.1.9", 53, 53))
	x.clock.Advance(10 * time.Second)
	x.turn(t)
	if got, want := x.sink.keys(), []string{flowKey(b), flowKey(c)}; !slices.Equal(got, want) {
		t.Errorf("after a poll the sink holds %q, want %q", got, want)
	}
	x.clock.Advance(10 * time.Second)
	x.turn(t)
	if st := x.in.Stats(); st.Polls != 2 || table.dumps != 3 || st.DumpFiltered != 2 {
		t.Errorf("stats %+v and %d dumps, want 2 polls, 3 dumps, the UDP flow filtered twice", st, table.dumps)
	}
}

// Expectations reach the sink when synchronised, kept by helper name
// prefix without case, as conntrackd's ExpectationSync list does.
func TestIngestExpectations(t *testing.T) {
	exp := func(typ ctnl.EventType, helper string, port uint16) ctnl.Event {
		tu := ctnl.Tuple{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.1.1"), Proto: 6, DstPort: port}
		return ctnl.Event{Type: typ, Expect: &ctnl.Expect{Tuple: tu, Master: tu, Helper: helper}}
	}
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, Expectations: true, ExpectHelpers: []string{"sip", "ftp"}}, newFakeTable())
	x.inject(exp(ctnl.EventExpNew, "SIP-5060", 1), exp(ctnl.EventExpNew, "tftp", 2), exp(ctnl.EventExpNew, "", 3), exp(ctnl.EventExpDestroy, "ftp", 4))
	x.turn(t)
	log := x.sink.takeLog()
	if len(log) != 2 || !strings.HasPrefix(log[0], "new expect") || !strings.HasSuffix(log[0], "SIP-5060") || !strings.HasPrefix(log[1], "destroy expect") {
		t.Errorf("sink got %q, want the SIP-5060 expectation and the ftp destroy", log)
	}
	if st := x.in.Stats(); st.Filtered != 2 {
		t.Errorf("%d filtered, want 2 (tftp, no helper)", st.Filtered)
	}
}

// Run subscribes first (the source is read from the start), dumps, then
// hands the events to the sink: an event sent while the dump runs is not
// lost, and comes after the dump. Cancelling stops Run, which closes the
// source; a failing source stops it with the error.
func TestIngestRun(t *testing.T) {
	a, b := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2)
	src := newFakeSource()
	src.event(eventOf(ctnl.EventNew, b, 0)) // b is created during the dump
	sink := newFakeSink()
	in, err := NewIngest(IngestSettings{EventIterationLimit: 100}, IngestIO{Clock: SystemClock{}, Events: src, Table: newFakeTable(a), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	want := []string{"begin startup", "update " + a.Orig.String(), "end startup complete=true", "new " + b.Orig.String()}
	waitLog(t, sink, len(want))
	if got := sink.takeLog(); !slices.Equal(got, want) {
		t.Errorf("sink got %q, want %q", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	select {
	case <-src.closed:
	default:
		t.Error("the source is not closed after Run")
	}

	src = newFakeSource()
	in, err = NewIngest(IngestSettings{}, IngestIO{Clock: SystemClock{}, Events: src, Table: newFakeTable(), Sink: newFakeSink()})
	if err != nil {
		t.Fatal(err)
	}
	src.fail <- errors.New("socket gone")
	if err := in.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "socket gone") {
		t.Errorf("Run with a failing source: %v, want its error", err)
	}
}

func waitLog(t *testing.T, s *fakeSink, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		have := len(s.log)
		s.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d sink calls; have %q", n, s.takeLog())
		}
	}
}

func TestNewIngestRefuses(t *testing.T) {
	table, sink, clock := newFakeTable(), newFakeSink(), newFakeClock()
	for _, tc := range []struct {
		name string
		s    IngestSettings
		io   IngestIO
		want string
	}{
		{"no source, no poll", IngestSettings{}, IngestIO{Clock: clock, Table: table, Sink: sink}, "no event source"},
		{"source and poll", IngestSettings{PollInterval: time.Second}, IngestIO{Clock: clock, Events: newFakeSource(), Table: table, Sink: sink}, "polling mode"},
		{"no sink", IngestSettings{PollInterval: time.Second}, IngestIO{Clock: clock, Table: table}, "required"},
		{"bad filter", IngestSettings{PollInterval: time.Second, Filter: filter.Settings{Stages: []filter.Stage{{Kind: 99}}}}, IngestIO{Clock: clock, Table: table, Sink: sink}, "filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewIngest(tc.s, tc.io); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewIngest: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// The goroutine that reads the event socket starts with ReaderThread (the
// daemon gives its thread the real-time policy there) before it reads,
// and calls the release it returned once it stops reading.
func TestIngestReaderThread(t *testing.T) {
	var mu sync.Mutex
	var marks []string
	mark := func(s string) {
		mu.Lock()
		marks = append(marks, s)
		mu.Unlock()
	}
	released := make(chan struct{})
	src := &markedSource{fakeSource: newFakeSource(), mark: mark}
	in, err := NewIngest(IngestSettings{EventIterationLimit: 100}, IngestIO{
		Clock: SystemClock{}, Events: src, Table: newFakeTable(), Sink: newFakeSink(),
		ReaderThread: func() func() {
			mark("thread")
			return func() { mark("release"); close(released) }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the release was not called after the reader stopped")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"thread", "run", "run returned", "release"}; !slices.Equal(marks, want) {
		t.Errorf("got %q, want %q", marks, want)
	}
}

// markedSource is a fakeSource that says when its Run starts and ends.
type markedSource struct {
	*fakeSource
	mark func(string)
}

func (s *markedSource) Run(h ctnl.Handler) error {
	s.mark("run")
	err := s.fakeSource.Run(h)
	s.mark("run returned")
	return err
}

// Batches of events from the socket (ctnl.BatchHandler) are handled at
// once, on the source's goroutine, when nothing is queued for Run; behind
// anything queued, they are queued too, and reach the sink in order. A
// batch is not split by the iteration limit.
func TestIngestBatches(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 2}, newFakeTable())
	a, b, c, d, e := tcp("198.18.1.1", 1), tcp("198.18.1.2", 2), tcp("198.18.1.3", 3), tcp("198.18.1.4", 4), tcp("198.18.1.5", 5)
	br := bridge{x.in}
	br.Events([]ctnl.Event{eventOf(ctnl.EventNew, a, 0), eventOf(ctnl.EventNew, b, 0), eventOf(ctnl.EventUpdate, a, 0)})
	want := []string{"new " + a.Orig.String(), "new " + b.Orig.String(), "update " + a.Orig.String()}
	if got := x.sink.takeLog(); !slices.Equal(got, want) {
		t.Errorf("nothing queued: sink got %q, want %q at once", got, want)
	}
	br.Skipped(errors.New("garbage"))
	br.Events([]ctnl.Event{eventOf(ctnl.EventDestroy, b, 0), eventOf(ctnl.EventNew, c, 0)})
	br.Event(&[]ctnl.Event{eventOf(ctnl.EventNew, d, 0)}[0])
	if got := x.sink.takeLog(); len(got) != 0 {
		t.Errorf("behind a queued item: sink got %q at once, want nothing before Run's turn", got)
	}
	x.turn(t)
	want = []string{"destroy " + b.Orig.String(), "new " + c.Orig.String()}
	if got := x.sink.takeLog(); !slices.Equal(got, want) {
		t.Errorf("first turn: sink got %q, want %q", got, want)
	}
	x.turn(t)
	if got, want := x.sink.takeLog(), []string{"new " + d.Orig.String()}; !slices.Equal(got, want) {
		t.Errorf("second turn: sink got %q, want %q", got, want)
	}
	br.Events([]ctnl.Event{eventOf(ctnl.EventNew, e, 0)})
	if got, want := x.sink.takeLog(), []string{"new " + e.Orig.String()}; !slices.Equal(got, want) {
		t.Errorf("queue drained: sink got %q, want %q at once", got, want)
	}
	if st := x.in.Stats(); st.Events != 7 || st.Skipped != 1 {
		t.Errorf("stats %+v, want 7 events and 1 skipped", st)
	}
}
