package ftfw

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// pipe is a lossless two-way link with a fixed one-way latency,
// driven like the fail-over integration test drives real sockets: both
// sessions tick and flush with the same clock in each step.
type pipe struct {
	t       *testing.T
	a, b    *Session[uint16, obj]
	eb      *engineB
	latency time.Duration
	now     time.Time
	flight  []dgram
	scratch wire.Message
	// bDown: b is not running; what is sent to it is lost.
	bDown bool
}

func newPipe(t *testing.T, cfg Config, latency time.Duration) *pipe {
	p := &pipe{t: t, eb: &engineB{ext: map[uint16]uint32{}}, latency: latency, now: t0}
	ca, cb := cfg, cfg
	ca.InitialSeq, cb.InitialSeq = 1_000_000, 5_000_000
	p.a = New[uint16, obj](ca, &recorder{}, t0)
	p.b = New[uint16, obj](cb, p.eb, t0)
	return p
}

func (p *pipe) send(msgs []wire.Message, toB bool) {
	for i := range msgs {
		p.flight = append(p.flight, dgram{at: p.now.Add(p.latency), toB: toB, buf: wire.AppendMessage(nil, &msgs[i])})
	}
}

// step advances the clock by d, runs both sessions and delivers what has
// arrived.
func (p *pipe) step(d time.Duration) {
	p.now = p.now.Add(d)
	p.a.Tick(p.now)
	p.send(p.a.Flush(p.now), true)
	if !p.bDown {
		p.b.Tick(p.now)
		p.send(p.b.Flush(p.now), false)
	}
	i := 0
	for ; i < len(p.flight) && !p.flight[i].at.After(p.now); i++ {
		dst := p.a
		if p.flight[i].toB {
			if p.bDown {
				continue
			}
			dst = p.b
		}
		if _, err := wire.Decode(p.flight[i].buf, &p.scratch); err != nil {
			p.t.Fatalf("decode own message: %v", err)
		}
		dst.Receive(&p.scratch)
	}
	p.flight = p.flight[i:]
}

// TestIdleResendQueue pins down what "one entry left in the resend queue
// forever" is when two idle peers trade ACKs (src/sync-ftfw.c): it is not one
// entry but a new ACK every alive interval. When both alive timers fire in
// the same step (peers in phase), each side's ACK crosses the other's on
// the wire, so each side's newest ACK is always unacknowledged when the
// other's arrives, and the resend queue never reaches zero; no entry gets
// older than one alive interval plus the round trip, so ResendTimeout never
// fires. Out of phase by more than the latency, the queue empties between
// ACKs. Either way, nothing is stuck: the test fails if an entry outlives
// one alive interval plus a round trip.
func TestIdleResendQueue(t *testing.T) {
	const (
		alive   = 100 * time.Millisecond
		latency = 2 * time.Millisecond
		objects = 300
	)
	tests := []struct {
		name string
		// skew shifts b's alive timer against a's.
		skew        time.Duration
		wantInPhase bool
	}{
		{name: "in phase", wantInPhase: true},
		{name: "half an interval apart", skew: alive / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipe(t, Config{ACKWindowSize: 16, AliveInterval: alive, ResendTimeout: 5 * alive}, latency)
			for k := range uint16(objects) {
				p.a.Enqueue(k, obj{Key: k, Val: 1, St: StatusNew})
			}
			p.send(p.a.Flush(p.now), true)
			for range 3000 { // 3 s of 1 ms steps: handshake and recovery
				p.step(time.Millisecond)
			}
			// From here both alive timers fire in the same step (as in the
			// fail-over test's failing runs), or skew apart.
			p.b.aliveAt = p.a.aliveAt.Add(tt.skew)
			for range 1000 {
				p.step(time.Millisecond)
			}
			if p.a.Stats().HelloDiscarded == 0 {
				t.Fatalf("b's HELLO did not discard a's resend queue: stats %+v", p.a.Stats())
			}
			if len(p.eb.ext) != objects {
				t.Fatalf("b holds %d objects, want %d; stats a %+v b %+v", len(p.eb.ext), objects, p.a.Stats(), p.b.Stats())
			}

			// Idle from here: watch a's resend queue for 2 s.
			minResend, seen := 1<<30, map[uint32]bool{}
			for range 2000 {
				p.step(time.Millisecond)
				tx, resend, lost := p.a.Queued()
				if tx != 0 || lost != 0 {
					t.Fatalf("idle a has tx=%d lost=%d", tx, lost)
				}
				minResend = min(minResend, resend)
				for i := p.a.resend.head; i != nilIdx; i = p.a.entries[i].next {
					e := &p.a.entries[i]
					if e.ctl != wire.FlagAck {
						t.Fatalf("idle a keeps seq %d ctl %#x key %d, want only its ACKs", e.seq, e.ctl, e.key)
					}
					if age := p.now.Sub(p.a.epoch.Add(e.sent)); age > alive+2*latency {
						t.Fatalf("seq %d unacknowledged for %v, more than an alive interval plus a round trip", e.seq, age)
					}
					seen[e.seq] = true
				}
			}
			if got := p.a.Stats().TimedOut; got != 0 {
				t.Errorf("TimedOut = %d, want 0: nothing is lost", got)
			}
			if inPhase := minResend > 0; inPhase != tt.wantInPhase {
				t.Errorf("resend queue never empty = %v, want %v (min %d)", inPhase, tt.wantInPhase, minResend)
			}
			// 2 s at one ACK per 100 ms: about 20 different entries.
			if len(seen) < 15 {
				t.Errorf("a's resend queue held %d different entries in 2 s, want about 20 (one ACK per alive interval)", len(seen))
			}
		})
	}
}
