package ftfw

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// relObj is an obj that counts the session's Released calls.
type relObj struct {
	obj
	released int
}

func (o *relObj) Released() { o.released++ }

// Released is called once per slot, and only when the peer acknowledged
// the slot's last transmission: an object enqueued again before it was
// sent keeps its one slot, and an unacknowledged one is still held.
func TestReleasedAfterAck(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := New[uint16, *relObj](Config{InitialSeq: 100}, &recorder{}, now)
	b := New[uint16, obj](Config{InitialSeq: 900}, &recorder{}, now)
	o1 := &relObj{obj: obj{Key: 1, Val: 1, St: StatusNew}}
	o2 := &relObj{obj: obj{Key: 2, Val: 1, St: StatusNew}}
	a.Enqueue(1, o1)
	a.Enqueue(2, o2)
	a.Enqueue(1, o1)
	out := a.Flush(now)
	if len(out) != 2 {
		t.Fatalf("a sent %v, want two data messages", showAll(out))
	}
	if o1.released+o2.released != 0 {
		t.Fatalf("released %d and %d before any ACK, want none", o1.released, o2.released)
	}
	msgs := append([]wire.Message(nil), out...)
	for i := range msgs {
		b.Receive(&msgs[i])
	}
	now = now.Add(time.Second)
	b.Tick(now)
	acks := b.Flush(now)
	if len(acks) == 0 {
		t.Fatal("b sent no ACK")
	}
	for i := range acks {
		a.Receive(&acks[i])
	}
	if o1.released != 1 || o2.released != 1 {
		t.Errorf("released %d and %d after b's ACK, want 1 and 1", o1.released, o2.released)
	}
	if tx, resend, lost := a.Queued(); tx+resend+lost != 0 {
		t.Errorf("a holds %d+%d+%d entries after b's ACK, want none", tx, resend, lost)
	}
}
