package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

// fakeTable is a kernel table to dump.
type fakeTable struct {
	mu      sync.Mutex
	flows   []ctnl.Flow
	expects []ctnl.Expect
	// fail makes the next dumps fail after delivering that many flows
	// (when not negative).
	fail  int
	dumps int
}

func newFakeTable(flows ...*ctnl.Flow) *fakeTable {
	t := &fakeTable{fail: -1}
	for _, f := range flows {
		t.flows = append(t.flows, *f)
	}
	return t
}

func (t *fakeTable) set(flows ...*ctnl.Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flows = t.flows[:0]
	for _, f := range flows {
		t.flows = append(t.flows, *f)
	}
}

var errDumpFailed = errors.New("dump interrupted")

func (t *fakeTable) Dump(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dumps++
	var ev ctnl.Event
	for i, f := range t.flows {
		if i == t.fail {
			return errDumpFailed
		}
		ev = ctnl.Event{Type: ctnl.EventUpdate, Flow: f}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	if t.fail >= len(t.flows) {
		return errDumpFailed
	}
	return nil
}

func (t *fakeTable) DumpExpect(family ctnl.Family, fn func(ev *ctnl.Event) error, skipped func(error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.expects {
		ev := ctnl.Event{Type: ctnl.EventExpNew, Expect: &e}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// fakeSink is a cache: flows by original tuple and zone, swept after a
// complete dump, with a log of the calls.
type fakeSink struct {
	mu      sync.Mutex
	flows   map[string]ctnl.Flow
	seen    map[string]bool
	expects map[string]ctnl.Expect
	log     []string
	// changed is poked on every call.
	changed chan struct{}
}

func newFakeSink() *fakeSink {
	return &fakeSink{flows: map[string]ctnl.Flow{}, expects: map[string]ctnl.Expect{}, changed: make(chan struct{}, 1)}
}

func flowKey(f *ctnl.Flow) string { return fmt.Sprintf("%v zone %d", f.Orig, f.Zone) }

func (s *fakeSink) record(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf(format, args...))
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSink) NewFlow(now time.Time, f *ctnl.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows[flowKey(f)] = *f
	s.record("new %v", f.Orig)
}

func (s *fakeSink) UpdateFlow(now time.Time, f *ctnl.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows[flowKey(f)] = *f
	if s.seen != nil {
		s.seen[flowKey(f)] = true
	}
	s.record("update %v", f.Orig)
}

func (s *fakeSink) DestroyFlow(now time.Time, f *ctnl.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flows, flowKey(f))
	s.record("destroy %v", f.Orig)
}

func (s *fakeSink) NewExpect(now time.Time, e *ctnl.Expect) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expects[e.Tuple.String()] = *e
	s.record("new expect %v %s", e.Tuple, e.Helper)
}

func (s *fakeSink) DestroyExpect(now time.Time, e *ctnl.Expect) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expects, e.Tuple.String())
	s.record("destroy expect %v %s", e.Tuple, e.Helper)
}

func (s *fakeSink) Committed(now time.Time, ev *ctnl.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("committed %s %v", ev.Type, ev.Flow.Orig)
}

func (s *fakeSink) BeginDump(now time.Time, cause DumpCause) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = map[string]bool{}
	s.record("begin %s", cause)
}

func (s *fakeSink) EndDump(now time.Time, cause DumpCause, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if complete {
		for k := range s.flows {
			if !s.seen[k] {
				delete(s.flows, k)
				s.log = append(s.log, "swept "+k)
			}
		}
	}
	s.seen = nil
	s.record("end %s complete=%v", cause, complete)
}

// keys returns the flows the sink holds, sorted.
func (s *fakeSink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.flows {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *fakeSink) takeLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

// fakeSource is an event socket: Run delivers what Send queues, in
// order, until Close; fail makes Run return an error.
type fakeSource struct {
	items  chan func(h ctnl.Handler)
	closed chan struct{}
	once   sync.Once
	fail   chan error
}

func newFakeSource() *fakeSource {
	return &fakeSource{items: make(chan func(ctnl.Handler), 4096), closed: make(chan struct{}), fail: make(chan error, 1)}
}

func (s *fakeSource) Run(h ctnl.Handler) error {
	for {
		select {
		case fn := <-s.items:
			fn(h)
		case err := <-s.fail:
			return err
		case <-s.closed:
			return nil
		}
	}
}

func (s *fakeSource) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *fakeSource) event(ev ctnl.Event) {
	s.items <- func(h ctnl.Handler) { h.Event(&ev) }
}

// tcp is a TCP flow from 198.18.0.1 to dst.
func tcp(dst string, sport uint16) *ctnl.Flow {
	return flowOf(6, "198.18.0.1", dst, sport, 80)
}

func flowOf(proto uint8, src, dst string, sport, dport uint16) *ctnl.Flow {
	o := ctnl.Tuple{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
	return &ctnl.Flow{Orig: o, Reply: o.Invert(), Timeout: 120, Status: ctnl.StatusConfirmed}
}

func eventOf(typ ctnl.EventType, f *ctnl.Flow, port uint32) ctnl.Event {
	return ctnl.Event{Type: typ, Flow: *f, PortID: port}
}
