package ftfw

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// TestLateStartingPeerGetsEverything: a node sends while its peer is not
// yet running (keepalived starts both, one is faster), so every datagram is
// lost and sits in the resend queue. The peer's first message carries
// HELLO, which makes conntrackd drop that queue and ignore the NACK that
// follows: the flows never arrive (reference G.17). A Session sends them
// again with new numbers. ResendTimeout is off, as between legacy peers,
// so nothing else could repair the loss.
func TestLateStartingPeerGetsEverything(t *testing.T) {
	const (
		alive   = 100 * time.Millisecond
		latency = 2 * time.Millisecond
		objects = 300
	)
	p := newPipe(t, Config{ACKWindowSize: 16, AliveInterval: alive}, latency)
	p.bDown = true
	for k := range uint16(objects) {
		p.a.Enqueue(k, obj{Key: k, Val: uint32(k) + 1, St: StatusNew})
	}
	for range 500 { // the peer starts half a second later
		p.step(time.Millisecond)
	}
	if _, resend, _ := p.a.Queued(); resend < objects {
		t.Fatalf("a's resend queue holds %d entries while b is down, want at least %d", resend, objects)
	}
	p.b = New[uint16, obj](p.b.cfg, p.eb, p.now)
	p.bDown = false
	for range 2000 {
		p.step(time.Millisecond)
	}
	if len(p.eb.ext) != objects {
		t.Fatalf("b holds %d of %d objects; a's stats %+v", len(p.eb.ext), objects, p.a.Stats())
	}
	for k, v := range p.eb.ext {
		if v != uint32(k)+1 {
			t.Errorf("b holds k%d=%d, want %d", k, v, k+1)
		}
	}
	if st := p.a.Stats(); st.HelloRequeued < objects {
		t.Errorf("HelloRequeued = %d, want at least %d: the test did not exercise the HELLO repair", st.HelloRequeued, objects)
	}
	if tx, resend, lost := p.a.Queued(); tx+lost != 0 || resend > 1 {
		t.Errorf("a's queues tx=%d resend=%d lost=%d after convergence, want empty (an ACK in flight at most)", tx, resend, lost)
	}
}

// A message lost while the sender still says HELLO is not acknowledged by
// the range the receiver sends: each HELLO message skips the gap check, so
// the pending range must stop at the last number received, or the sender
// releases what never arrived and, with no NACK for it, never re-sends it.
func TestHelloGapNotAcknowledged(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := New[uint16, obj](Config{InitialSeq: 100}, &recorder{}, now)
	b := New[uint16, obj](Config{InitialSeq: 900}, &recorder{}, now)
	for k := uint16(1); k <= 3; k++ {
		a.Enqueue(k, obj{Key: k, Val: 1, St: StatusNew})
	}
	out := a.Flush(now)
	if len(out) != 3 || out[0].Flags&wire.FlagHello == 0 {
		t.Fatalf("a sent %v, want three data messages with HELLO", showAll(out))
	}
	msgs := append([]wire.Message(nil), out...)
	b.Receive(&msgs[0])
	b.Receive(&msgs[2]) // seq 101 is lost
	now = now.Add(time.Second)
	b.Tick(now)
	for _, m := range b.Flush(now) {
		a.Receive(&m)
	}
	// b's HELLO moves what is unacknowledged to the lost list, to be sent
	// again; only key 2 must be there.
	if tx, resend, lost := a.Queued(); tx+resend+lost != 1 {
		t.Fatalf("a holds %d+%d+%d entries after b's ACKs, want 1 (key 2, lost)", tx, resend, lost)
	}
	now = now.Add(time.Second)
	out = a.Flush(now)
	if len(out) != 1 || show(&out[0]) != "103 NEW k2=1 hello-back" {
		t.Fatalf("a sent %v, want key 2 again", showAll(out))
	}
}
