package ftfw

import (
	"strings"
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

// A message sent while the sender still said HELLO, delivered again late
// by the network (a reordered or duplicated datagram), is dropped as any
// late message is: taken for a restart, as conntrackd takes it, its old
// content would overwrite what the sender sent since (an old NEW over a
// changed mark, a destroyed flow back to life). A peer that did restart
// is still heard: with a number below its old phase, or within it once
// the guard has passed.
func TestLateHelloCopyDropped(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name string
		// replay returns the message b receives last, given a's
		// first message (k1=1 with HELLO, number 100) and how long
		// after a's last message it arrives.
		replay func(first wire.Message) (wire.Message, time.Duration)
		// want is what b applies of it, "" for nothing.
		want string
	}{
		{"copy during the hello phase", func(m wire.Message) (wire.Message, time.Duration) { return m, 0 }, ""},
		{"copy after the phase, within the guard", func(m wire.Message) (wire.Message, time.Duration) { return m, helloGuard / 2 }, ""},
		{"restart below the old numbers", func(m wire.Message) (wire.Message, time.Duration) {
			m.Seq = 50
			m.Flow.Mark = 9
			return m, 0
		}, "apply 50 NEW k1=9 hello"},
		{"restart within the old numbers, after the guard", func(m wire.Message) (wire.Message, time.Duration) {
			m.Flow.Mark = 9
			return m, 2 * helloGuard
		}, "apply 100 NEW k1=9 hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			rb := &recorder{}
			a := New[uint16, obj](Config{InitialSeq: 100}, &recorder{}, now)
			b := New[uint16, obj](Config{InitialSeq: 900}, rb, now)
			a.Enqueue(1, obj{Key: 1, Val: 1, St: StatusNew})
			first := append([]wire.Message(nil), a.Flush(now)...)
			b.Receive(&first[0])
			// b answers HELLO_BACK (on its alive timer's ACK); a's
			// next messages carry no HELLO: a's phase is over once
			// b sees one.
			now = now.Add(time.Second)
			b.Tick(now)
			for _, m := range b.Flush(now) {
				a.Receive(&m)
			}
			a.Enqueue(1, obj{Key: 1, Val: 2, St: StatusAlive})
			second := append([]wire.Message(nil), a.Flush(now)...)
			if len(second) != 1 || second[0].Flags&wire.FlagHello != 0 {
				t.Fatalf("a's second flush: %v, want one message without HELLO", showAll(second))
			}
			late, after := tc.replay(first[0])
			if after == 0 {
				// During the phase: the copy comes before the
				// message that ends it.
				b.Receive(&late)
				b.Receive(&second[0])
			} else {
				b.Receive(&second[0])
				now = now.Add(after)
				b.Tick(now)
				b.Receive(&late)
			}
			var got []string
			for _, l := range rb.log[1:] {
				if l != "apply "+show(&second[0]) {
					got = append(got, l)
				}
			}
			want := []string(nil)
			if tc.want != "" {
				want = []string{tc.want}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("b applied %q of the late message, want %q (log %q)", got, want, rb.log)
			}
			if tc.want == "" && b.Stats().Before == 0 {
				t.Errorf("the dropped copy is not counted in Before: %+v", b.Stats())
			}
		})
	}
}
