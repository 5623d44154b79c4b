package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// countSink counts what it is given and says when it has seen want flows.
type countSink struct {
	n, want int
	done    chan struct{}
}

func (s *countSink) flow() {
	if s.n++; s.n == s.want {
		close(s.done)
	}
}
func (s *countSink) NewFlow(time.Time, *ctnl.Flow)         { s.flow() }
func (s *countSink) UpdateFlow(time.Time, *ctnl.Flow)      { s.flow() }
func (s *countSink) DestroyFlow(time.Time, *ctnl.Flow)     { s.flow() }
func (s *countSink) NewExpect(time.Time, *ctnl.Expect)     {}
func (s *countSink) DestroyExpect(time.Time, *ctnl.Expect) {}
func (s *countSink) BeginDump(time.Time, DumpCause)        {}
func (s *countSink) EndDump(time.Time, DumpCause, bool)    {}
func (s *countSink) Committed(time.Time, *ctnl.Event)      {}

// loopSource delivers the same event n times, as fast as Run takes them:
// one at a time, or in batches of batch as ctnl.Events hands over what
// it read without waiting.
type loopSource struct {
	ev     ctnl.Event
	n      int
	batch  int
	closed chan struct{}
}

func (s *loopSource) Run(h ctnl.Handler) error {
	if s.batch > 1 {
		evs := make([]ctnl.Event, s.batch)
		for i := range evs {
			evs[i] = s.ev
		}
		bh := h.(ctnl.BatchHandler)
		for n := s.n; n > 0; n -= s.batch {
			bh.Events(evs[:min(n, s.batch)])
		}
	} else {
		for range s.n {
			h.Event(&s.ev)
		}
	}
	<-s.closed
	return nil
}

func (s *loopSource) Close() error { close(s.closed); return nil }

// Events per second through the whole stage: the source's goroutine, the
// hand-over to Run's, origin check, filter and sink. batch=1 hands each
// event over alone, batch=32 as ctnl.Events does under load.
func BenchmarkIngestRun(b *testing.B) {
	for _, batch := range []int{1, ctnl.MaxBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchIngestRun(b, batch) })
	}
}

func benchIngestRun(b *testing.B, batch int) {
	ev := eventOf(ctnl.EventUpdate, tcp("198.18.1.1", 1000), 0)
	ev.Flow.Present |= ctnl.HasProtoInfo
	ev.Flow.TCP.State = 3
	sink := &countSink{want: b.N, done: make(chan struct{})}
	src := &loopSource{ev: ev, n: b.N, batch: batch, closed: make(chan struct{})}
	in, err := NewIngest(IngestSettings{EventIterationLimit: 100, Filter: ignoreUDP},
		IngestIO{Clock: SystemClock{}, Events: src, Table: newFakeTable(), Sink: sink, OwnPorts: []uint32{writerPort}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() { done <- in.Run(ctx) }()
	<-sink.done
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// The cost of one event once it is on Run's goroutine.
func BenchmarkIngestEvent(b *testing.B) {
	ev := eventOf(ctnl.EventUpdate, tcp("198.18.1.1", 1000), 0)
	sink := &countSink{want: -1}
	in, err := NewIngest(IngestSettings{PollInterval: time.Second, Filter: ignoreUDP},
		IngestIO{Clock: SystemClock{}, Table: newFakeTable(), Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		in.event(now, &ev)
	}
}
