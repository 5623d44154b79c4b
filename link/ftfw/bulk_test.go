package ftfw

import (
	"testing"

	"github.com/ctsync/ctsync/link/wire"
)

// A bulk send (Add) larger than the resend queue goes out whole in one
// transmission, overflows nothing, and is followed by the pending ACK:
// a peer that waits for our table (Resync) may take that ACK for its
// end. A lost bulk message is still re-sent on NACK. Keyed objects keep
// conntrackd's overflow of the resend queue.
func TestBulkLargerThanResendQueue(t *testing.T) {
	const queue, table = 4, 40
	s := New[uint16, obj](Config{ResendQueueSize: queue, InitialSeq: 1}, nopHandler{}, t0)
	s.hello = helloDone
	// The peer's data, in sequence: an ACK for it is pending.
	s.Receive(data(500, wire.TypeCTNew, 7, 7, 0))
	for k := range table {
		s.Add(obj{Key: uint16(k), Val: uint32(k), St: StatusAlive})
	}
	s.queueCtl(wire.FlagAck, s.ackFrom, s.last) // as the alive timer would
	out := s.Flush(t0)
	if len(out) != table+1 {
		t.Fatalf("first transmission: %d messages, want the %d objects and the ACK", len(out), table)
	}
	if last := &out[table]; last.Type != wire.TypeControl || last.Flags&wire.FlagAck == 0 {
		t.Errorf("last message %s, want the ACK after the whole bulk", show(last))
	}
	if st := s.Stats(); st.Overflows != 0 {
		t.Errorf("%d overflows, want none: a bulk takes no room in the resend queue", st.Overflows)
	}
	if _, resend, _ := s.Queued(); resend != table+1 {
		t.Errorf("%d unacknowledged, want %d", resend, table+1)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	// The peer lost messages 10 and 11: NACK, then the rest ACKed.
	s.Receive(ctl(501, nack, 10, 11))
	s.Receive(ctl(502, ack, 1, 9))
	s.Receive(ctl(503, ack, 12, out[table].Seq))
	re := s.Flush(t0)
	if got := showAll(re); len(re) != 2 || re[0].Flow.Timeout != 9 || re[1].Flow.Timeout != 10 {
		t.Fatalf("after the NACK: %q, want objects 9 and 10 again", got)
	}
	s.Receive(ctl(504, ack, re[0].Seq, re[1].Seq))
	if tx, resend, lost := s.Queued(); tx+resend+lost != 0 {
		t.Errorf("after the last ACK: queued %d %d %d, want nothing", tx, resend, lost)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}

	// Keyed objects beyond the queue overflow it, and the rest wait
	// for room.
	for k := range uint16(table) {
		s.Enqueue(k, obj{Key: k, Val: 1, St: StatusAlive})
	}
	if n := len(s.Flush(t0)); n != queue+1 {
		t.Errorf("keyed: %d messages sent, want %d (the queue, then one overflow)", n, queue+1)
	}
	if st := s.Stats(); st.Overflows != 1 {
		t.Errorf("keyed: %d overflows, want 1", st.Overflows)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}
