package ftfw

import (
	"testing"

	"github.com/ctsync/ctsync/link/wire"
)

// After a bulk send is acknowledged, the session gives its entries back
// (compact, at the next transmission), and goes on exactly as before:
// what was still queued, unacknowledged or keyed is sent, acknowledged
// and released, and the queues stay consistent throughout.
func TestCompactAfterBulk(t *testing.T) {
	const bulk = 2 * compactMin
	s := New[uint32, obj](Config{ResendQueueSize: 4 * compactMin, InitialSeq: 1}, nopHandler{}, t0)
	s.hello = helloDone
	for i := range bulk {
		s.Add(obj{Key: uint16(i), Val: uint32(i), St: StatusNew})
	}
	for k := range uint32(100) {
		s.Enqueue(k, obj{Key: uint16(k), Val: k, St: StatusAlive})
	}
	if n := len(s.Flush(t0)); n != bulk+100 {
		t.Fatalf("first transmission: %d messages, want %d", n, bulk+100)
	}
	// The peer acknowledges all but the last 50 (keyed objects).
	s.Receive(ctl(1, ack, 1, bulk+50))
	for k := range uint32(10) {
		s.Enqueue(1000+k, obj{Key: uint16(k), Val: k, St: StatusNew})
	}
	s.RequestResync()
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	before := len(s.entries)
	out := s.Flush(t0)
	if err := s.check(); err != nil {
		t.Fatalf("after compacting: %v", err)
	}
	if len(s.entries) >= compactMin || len(s.entries) >= before {
		t.Errorf("%d entries after compacting %d, want fewer than %d", len(s.entries), before, compactMin)
	}
	if len(out) != 11 || out[10].Type != wire.TypeControl || out[10].Flags&wire.FlagResync == 0 {
		t.Fatalf("second transmission: %d messages (last %s), want 10 objects and the RESYNC", len(out), show(&out[len(out)-1]))
	}
	if _, resend, _ := s.Queued(); resend != 50+11 {
		t.Errorf("%d unacknowledged, want 61 (50 keyed, the RESYNC, 10 keyed)", resend)
	}
	// Everything acknowledged: nothing left, every key released.
	last := out[len(out)-1].Seq
	s.Receive(ctl(2, ack, bulk+51, last))
	if tx, resend, lost := s.Queued(); tx+resend+lost != 0 || len(s.keys) != 0 {
		t.Errorf("after the last ACK: queued %d %d %d, %d keys; want nothing", tx, resend, lost, len(s.keys))
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}
