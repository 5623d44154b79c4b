package ftfw

import (
	"testing"
	"time"
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
