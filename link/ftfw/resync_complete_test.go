package ftfw

import (
	"cmp"
	"maps"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestResyncComplete: B asks A for its table and watches Resync. The
// moment B's request is reported complete, B must hold every object A
// had when it answered, with its value; and it must come to that within
// bounded time even while A keeps sending other updates (a busy primary
// never goes quiet), over a channel that loses, duplicates and reorders.
//
// The cases with a small resend queue are the 1M-flow fail-over in
// miniature: A's table (100 or 400) is larger than its resend queue (16), and
// A answers with keyless objects as the engine does. Those must neither
// overflow the queue nor wait for acknowledgements behind it, or A
// acknowledges B's later messages before it has sent its whole table.
func TestResyncComplete(t *testing.T) {
	tests := []struct {
		name  string
		busy  bool // A keeps changing the keys above the table
		loss  float64
		dup   float64
		delay time.Duration
		// table is the number of objects A holds (30 when 0); queue,
		// when set, A's ResendQueueSize, and A answers with a keyless
		// bulk. B's queue keeps the default: B's own overflows are
		// another matter (a RESYNC of B's that its full queue drops
		// after it was lost on the wire may never be asked for again).
		table, queue int
	}{
		{name: "perfect channel, idle peer"},
		{name: "perfect channel, busy peer", busy: true},
		{name: "lossy, duplicating, reordering, idle peer", loss: 0.2, dup: 0.1, delay: 300 * time.Millisecond},
		// Under 20% loss with reordering a busy peer's stream has a gap
		// nearly every round trip, NACKs time out and the request is
		// repaired with a new RESYNC over and over: it is never seen
		// complete, which is the honest answer. 5% in order completes.
		{name: "5% loss, busy peer", busy: true, loss: 0.05},
		{name: "table larger than the resend queue, perfect channel, idle peer", table: 400, queue: 16},
		{name: "table larger than the resend queue, perfect channel, busy peer", busy: true, table: 400, queue: 16},
		// 400 objects under 20% loss: A's own ACKs and NACKs overflow
		// its queue of 16, and the repair RESYNCs on both sides start
		// the request over and over, as in the busy case above.
		{name: "table larger than the resend queue, lossy, duplicating, reordering, idle peer", loss: 0.2, dup: 0.1, delay: 300 * time.Millisecond, table: 100, queue: 16},
		{name: "table larger than the resend queue, 5% loss, busy peer", busy: true, loss: 0.05, table: 400, queue: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := cmp.Or(tt.table, 30) // keys 0..table-1; keys above churn
			c := simConfig{
				keys: 2 * table, maxMsgsPerDgram: 6,
				cfgA:  Config{InitialSeq: 1_000_000, ACKWindowSize: 8, ResendTimeout: DefaultResendTimeout, ResendQueueSize: tt.queue},
				cfgB:  Config{InitialSeq: 5_000_000, ACKWindowSize: 8, ResendTimeout: DefaultResendTimeout},
				seeds: 200, keylessBulk: tt.queue > 0,
			}
			c.loss, c.dup, c.maxDelay = tt.loss, tt.dup, tt.delay
			var lost uint64
			for seed := range uint64(c.seeds) {
				s := newSim(t, c, seed)
				for i := 0; !s.a.HelloDone() || !s.b.HelloDone(); i++ {
					if i > 2000 {
						t.Fatalf("seed %d: hello handshake did not complete", seed)
					}
					s.step(false)
				}
				// A's table, which B has not got: B starts empty.
				for k := range table {
					s.ea.live[k] = true
					s.ea.state[k] = obj{Key: uint16(k), Val: uint32(1000 + k), St: StatusAlive}
				}
				want := map[uint16]uint32{}
				for k := range table {
					want[uint16(k)] = uint32(1000 + k)
				}
				if got := s.b.Resync(); got.Requested || got.Complete {
					t.Fatalf("seed %d: before any request: %+v", seed, got)
				}
				s.b.RequestResync()
				done := false
				for i := 0; i < 2000 && !done; i++ {
					s.step(false)
					if tt.busy {
						s.churn(table)
					}
					done = s.b.Resync().Complete
				}
				if !done {
					t.Fatalf("seed %d: the resync never completed (%+v)\n%s", seed, s.b.Resync(), s.dump())
				}
				got := maps.Clone(s.eb.ext)
				for k := range got {
					if int(k) >= table {
						delete(got, k) // the churn, not the table
					}
				}
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Fatalf("seed %d: complete, yet B lacks part of A's table (-want +got):\n%s", seed, diff)
				}
				if r := s.b.Resync(); r.Received < uint64(table) || !r.Acknowledged {
					t.Fatalf("seed %d: %+v, want Acknowledged and at least %d received", seed, r, table)
				}
				lost += s.b.Stats().Lost
			}
			if tt.loss > 0 && lost == 0 {
				t.Errorf("no message was lost: the lossy case tested nothing")
			}
		})
	}
}

// churn changes one of the keys at and above from, as a busy node's
// kernel events do.
func (s *sim) churn(from int) {
	k := from + s.rng.IntN(s.c.keys-from)
	s.ea.live[k] = true
	s.ea.state[k] = obj{Key: uint16(k), Val: s.rng.Uint32(), St: StatusAlive}
	s.a.Enqueue(uint16(k), s.ea.state[k])
}

// TestResyncCompleteNeedsTheAnswer: without a peer, a request is never
// complete, and Pending counts what waits for acknowledgement.
func TestResyncCompleteNeedsTheAnswer(t *testing.T) {
	s := New[uint16, obj](Config{InitialSeq: 100}, nopHandler{}, t0)
	s.Enqueue(1, obj{Key: 1, Val: 1})
	s.Enqueue(2, obj{Key: 2, Val: 2})
	s.RequestResync()
	now := t0
	for range 30 {
		now = now.Add(time.Second)
		s.Tick(now)
		s.Flush(now)
	}
	if r := s.Resync(); !r.Requested || r.Acknowledged || r.Complete {
		t.Errorf("Resync() = %+v, want requested only", r)
	}
	if n := s.Pending(); n != 2 {
		t.Errorf("Pending() = %d, want 2", n)
	}
	// The peer acknowledges everything: the request is known, nothing pends.
	s.Receive(ctl(500, ack|hello|helloBack, 100, s.seq-1))
	if r := s.Resync(); !r.Acknowledged || r.Complete {
		t.Errorf("after the ACK: Resync() = %+v, want acknowledged, not complete", r)
	}
	if n := s.Pending(); n != 0 {
		t.Errorf("after the ACK: Pending() = %d, want 0", n)
	}
}
