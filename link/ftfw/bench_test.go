package ftfw

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// BenchmarkSend measures the hot path: an object update in, a message out,
// with the peer acknowledging every 256 messages (a window of 256).
func BenchmarkSend(b *testing.B) {
	s := New[uint16, obj](Config{InitialSeq: 1}, nopHandler{}, t0)
	s.hello = helloDone
	ack := ctl(1, wire.FlagAck, 0, 0)
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := uint16(i % 1024)
		s.Enqueue(k, obj{Key: k, Val: uint32(i), St: StatusAlive})
		// One message, sometimes plus our ACK of the peer's ACKs.
		if out := s.Flush(now); len(out) == 0 {
			b.Fatalf("flushed %d messages", len(out))
		}
		i++
		if i%256 == 0 {
			ack.Seq++
			ack.From, ack.To = s.seq-256, s.seq-1
			s.Receive(ack)
			now = now.Add(time.Millisecond)
		}
	}
}

// BenchmarkSendBatch is the same with 64 updates per transmission run, as
// under load, plus encoding into one buffer.
func BenchmarkSendBatch(b *testing.B) {
	s := New[uint16, obj](Config{InitialSeq: 1}, nopHandler{}, t0)
	s.hello = helloDone
	ack := ctl(1, wire.FlagAck, 0, 0)
	buf := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 64 {
			k := uint16(i % 4096)
			s.Enqueue(k, obj{Key: k, Val: uint32(i), St: StatusAlive})
			i++
		}
		buf = buf[:0]
		out := s.Flush(t0)
		for j := range out {
			buf = wire.AppendMessage(buf, &out[j])
		}
		ack.Seq++
		ack.From, ack.To = s.seq-64, s.seq-1
		s.Receive(ack)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/object")
}
