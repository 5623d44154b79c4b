package ftfw

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Unix(1_000_000, 0)

type harness struct {
	t   *testing.T
	s   *Session[uint16, obj]
	rec *recorder
	now time.Time
}

// step is one input to the session or one expectation about its outputs.
type step func(h *harness)

func put(k uint16, v uint32, st Status) step {
	return func(h *harness) { h.s.Enqueue(k, obj{Key: k, Val: v, St: st}) }
}

func recv(m *wire.Message) step { return func(h *harness) { h.s.Receive(m) } }

func resync() step { return func(h *harness) { h.s.RequestResync() } }

// tick advances the clock by d and runs the timers.
func tick(d time.Duration) step {
	return func(h *harness) { h.now = h.now.Add(d); h.s.Tick(h.now) }
}

// flush runs a transmission and compares what is sent.
func flush(want ...string) step {
	return func(h *harness) {
		h.t.Helper()
		got := showAll(h.s.Flush(h.now))
		if diff := cmp.Diff(want, got); diff != "" {
			h.t.Errorf("flush (-want +got):\n%s", diff)
		}
	}
}

// events compares (and clears) what the Handler was asked to do.
func events(want ...string) step {
	return func(h *harness) {
		h.t.Helper()
		if diff := cmp.Diff(want, h.rec.log); diff != "" {
			h.t.Errorf("handler calls (-want +got):\n%s", diff)
		}
		h.rec.log = nil
	}
}

func queued(tx, resend, lost int) step {
	return func(h *harness) {
		h.t.Helper()
		a, b, c := h.s.Queued()
		if diff := cmp.Diff([3]int{tx, resend, lost}, [3]int{a, b, c}); diff != "" {
			h.t.Errorf("queue lengths [tx resend lost] (-want +got):\n%s", diff)
		}
	}
}

func stats(want func(*Stats)) step {
	return func(h *harness) {
		h.t.Helper()
		var w Stats
		want(&w)
		got := h.s.Stats()
		got.Sent, got.Received = 0, 0 // asserted through flush and recv
		if diff := cmp.Diff(w, got); diff != "" {
			h.t.Errorf("stats (-want +got):\n%s", diff)
		}
	}
}

const (
	hello     = wire.FlagHello
	helloBack = wire.FlagHelloBack
	ack       = wire.FlagAck
	nack      = wire.FlagNack
	alive     = wire.FlagAlive
	rsync     = wire.FlagResync
)

func TestSession(t *testing.T) {
	// sayDone skips our hello handshake (tested on its own below); done
	// also accepts the peer's first message, seq 500.
	sayDone := func(h *harness) { h.s.hello = helloDone }
	done := func(h *harness) { sayDone(h); h.s.Receive(ctl(500, alive, 0, 0)) }
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "first message carries hello and the initial sequence number",
			steps: []step{
				put(1, 5, StatusNew),
				flush("100 NEW k1=5 hello"),
				queued(0, 1, 0),
			},
		},
		{
			name: "hello on every message until hello-back arrives",
			steps: []step{
				put(1, 5, StatusNew), flush("100 NEW k1=5 hello"),
				put(2, 5, StatusNew), flush("101 NEW k2=5 hello"),
				recv(ctl(500, alive|helloBack, 0, 0)),
				put(3, 5, StatusNew), flush("102 NEW k3=5"),
			},
		},
		{
			name: "each received hello is answered by one hello-back",
			steps: []step{
				done,
				recv(ctl(501, alive|hello, 0, 0)),
				put(1, 5, StatusNew), put(2, 5, StatusNew),
				flush("100 NEW k1=5 hello-back", "101 NEW k2=5"),
			},
		},
		{
			name: "new then update before transmission coalesce into one update",
			steps: []step{
				done,
				put(1, 5, StatusNew), put(1, 6, StatusAlive),
				flush("100 UPD k1=6"),
			},
		},
		{
			name: "new then destroy before transmission coalesce into one delete",
			steps: []step{
				done,
				put(1, 5, StatusNew), put(1, 5, StatusDead),
				flush("100 DEL k1=5"),
			},
		},
		{
			name: "update of an object waiting for its ack moves it back to the transmit queue",
			steps: []step{
				done,
				put(1, 5, StatusNew), flush("100 NEW k1=5"), queued(0, 1, 0),
				put(1, 6, StatusAlive), queued(1, 0, 0),
				flush("101 UPD k1=6"), queued(0, 1, 0),
				// The ack of the superseded number releases nothing.
				recv(ctl(501, ack, 100, 100)), queued(0, 1, 0),
				recv(ctl(502, ack, 101, 101)), queued(0, 0, 0),
			},
		},
		{
			name: "ack releases exactly its range",
			steps: []step{
				done,
				put(1, 1, StatusNew), put(2, 2, StatusNew), put(3, 3, StatusNew),
				flush("100 NEW k1=1", "101 NEW k2=2", "102 NEW k3=3"),
				recv(ctl(501, ack, 100, 101)), queued(0, 1, 0),
				// A nack for released numbers is ignored; 102 is still held.
				recv(ctl(502, nack, 100, 102)),
				flush("103 NEW k3=3"),
			},
		},
		{
			name: "nack re-sends with a new sequence number and the current state",
			steps: []step{
				done,
				put(1, 5, StatusNew), put(2, 7, StatusNew),
				flush("100 NEW k1=5", "101 NEW k2=7"),
				recv(ctl(501, nack, 100, 100)),
				flush("102 NEW k1=5"),
				recv(ctl(502, nack, 101, 102)),
				put(1, 9, StatusDead), // already back in tx: status read now
				flush("103 NEW k2=7", "104 DEL k1=9"),
				stats(func(s *Stats) { s.Retransmitted = 3 }),
			},
		},
		{
			name: "control messages are retained and re-sent on nack with a new number",
			cfg:  Config{ACKWindowSize: 2},
			steps: []step{
				done, recv(ctl(501, alive, 0, 0)),
				flush("100 ACK [500,501]"), queued(0, 1, 0),
				resync(), flush("101 RESYNC [0,0]"), queued(0, 2, 0),
				recv(ctl(502, nack, 100, 101)),
				flush("102 ACK [500,501]", "103 RESYNC [0,0]"),
				recv(ctl(503, ack, 102, 103)),
				// 502 and 503 complete the next window.
				flush("104 ACK [502,503]"), queued(0, 1, 0),
			},
		},
		{
			name: "receiver acknowledges every ACKWindowSize in-sequence messages, alive included",
			cfg:  Config{ACKWindowSize: 3},
			steps: []step{
				recv(data(500, wire.TypeCTNew, 1, 1, hello)),
				recv(ctl(501, alive|hello, 0, 0)),
				flush(),
				recv(data(502, wire.TypeCTUpdate, 1, 2, 0)),
				flush("100 ACK [500,502] hello hello-back"),
				recv(ctl(503, alive|helloBack, 0, 0)),
				recv(ctl(504, alive, 0, 0)),
				recv(ctl(505, alive, 0, 0)),
				flush("101 ACK [503,505]"),
				events("apply 500 NEW k1=1 hello", "apply 502 UPD k1=2"),
			},
		},
		{
			name: "gap: ack of the pending range, then nack of the missing range",
			steps: []step{
				done, recv(ctl(501, alive, 0, 0)),
				recv(data(504, wire.TypeCTNew, 1, 1, 0)),
				flush("100 ACK [500,501]", "101 NACK [502,503]"),
				events("apply 504 NEW k1=1"),
				stats(func(s *Stats) { s.Lost = 2 }),
				tick(time.Second),
				flush("102 ACK [504,504]"),
			},
		},
		{
			name: "gap restarts the window at the new number",
			cfg:  Config{ACKWindowSize: 3},
			steps: []step{
				done,
				recv(ctl(505, alive, 0, 0)),
				flush("100 ACK [500,500]", "101 NACK [501,504]"),
				recv(ctl(506, alive, 0, 0)),
				flush(),
				recv(ctl(507, alive, 0, 0)),
				flush("102 ACK [505,507]"),
			},
		},
		{
			name: "delayed or duplicated messages are dropped unprocessed",
			steps: []step{
				done,
				recv(data(501, wire.TypeCTNew, 1, 1, 0)),
				recv(data(502, wire.TypeCTUpdate, 1, 2, 0)),
				recv(data(501, wire.TypeCTNew, 1, 1, 0)),
				recv(data(500, wire.TypeCTDelete, 1, 1, 0)),
				events("apply 501 NEW k1=1", "apply 502 UPD k1=2"),
				stats(func(s *Stats) { s.Before = 2 }),
				flush(),
			},
		},
		{
			name: "alive one interval after the last transmission, not retained",
			steps: []step{
				tick(999 * time.Millisecond), flush(),
				tick(time.Millisecond), flush("100 ALIVE hello"),
				queued(0, 0, 0),
				tick(500 * time.Millisecond),
				put(1, 1, StatusNew), flush("101 NEW k1=1 hello"),
				tick(999 * time.Millisecond), flush(),
				tick(time.Millisecond), flush("102 ALIVE hello"),
			},
		},
		{
			name: "alive timer sends the pending ack instead of alive",
			steps: []step{
				done, recv(ctl(501, alive, 0, 0)),
				tick(time.Second), flush("100 ACK [500,501]"),
				tick(time.Second), flush("101 ALIVE"),
			},
		},
		{
			// conntrackd forgets what it had not seen acknowledged and
			// ignores the NACK for it: k1 and k2 would be lost for good.
			name: "received hello empties the resend queue, data goes out again with new numbers",
			steps: []step{
				done,
				put(1, 1, StatusNew), put(2, 2, StatusNew), resync(),
				// Control messages go after the data queued before them.
				flush("100 NEW k1=1", "101 NEW k2=2", "102 RESYNC [0,0]"), queued(0, 3, 0),
				// Data waits for repair; our RESYNC goes out again, after it.
				recv(ctl(501, alive|hello, 0, 0)), queued(1, 0, 2),
				recv(ctl(502, nack, 100, 102)),
				flush("103 NEW k1=1 hello-back", "104 NEW k2=2", "105 RESYNC [0,0]"),
				stats(func(s *Stats) { s.HelloDiscarded, s.HelloRequeued, s.Repairs = 3, 3, 1 }),
				tick(time.Second),
				flush("106 ACK [500,502]"),
			},
		},
		{
			name: "an ack on the peer's hello is applied before the resend queue is emptied",
			steps: []step{
				put(1, 1, StatusNew), put(2, 2, StatusNew), put(3, 3, StatusNew),
				flush("100 NEW k1=1 hello", "101 NEW k2=2 hello", "102 NEW k3=3 hello"),
				// The peer's first message: its own hello, the answer to ours
				// and an ACK of what reached it.
				recv(ctl(501, ack|hello|helloBack, 100, 101)), queued(0, 0, 1),
				flush("103 NEW k3=3 hello-back"),
				stats(func(s *Stats) { s.HelloDiscarded, s.HelloRequeued, s.Repairs = 1, 1, 1 }),
				recv(ctl(502, ack, 103, 103)), queued(0, 0, 0),
			},
		},
		{
			name: "an ack of an object's last transmission ends its repair",
			cfg:  Config{ResendQueueSize: 2},
			steps: []step{
				done,
				put(1, 1, StatusNew), put(2, 2, StatusNew), put(3, 3, StatusNew),
				// The queue holds two: k1 is dropped and parked for repair.
				flush("100 NEW k1=1", "101 NEW k2=2", "102 NEW k3=3"), queued(0, 2, 1),
				// The peer got all three after all.
				recv(ctl(501, ack, 100, 102)), queued(0, 0, 0),
				flush(),
				stats(func(s *Stats) { s.Overflows = 1 }),
			},
		},
		{
			name: "hello resets sequence tracking after a peer restart",
			steps: []step{
				done, recv(ctl(501, alive, 0, 0)), recv(ctl(502, alive, 0, 0)),
				// Restarted peer: lower numbers, hello set. No nack, no "before".
				recv(ctl(7, alive|hello, 0, 0)),
				recv(data(8, wire.TypeCTNew, 1, 1, hello)),
				recv(data(5, wire.TypeCTNew, 1, 2, 0)),
				events("apply 8 NEW k1=1 hello"),
				stats(func(s *Stats) { s.Before = 1 }),
				tick(time.Second),
				// Legacy quirk: the range pending before the restart is never
				// acknowledged; the window restarts at the hello.
				flush("100 ACK [7,8] hello-back"),
			},
		},
		{
			name: "sequence numbers wrap around",
			cfg:  Config{InitialSeq: 0xffff_fffe, ACKWindowSize: 4},
			steps: []step{
				sayDone,
				recv(ctl(0xffff_fffe, alive, 0, 0)),
				put(1, 1, StatusNew), put(2, 2, StatusNew), put(3, 3, StatusNew),
				flush("4294967294 NEW k1=1", "4294967295 NEW k2=2", "0 NEW k3=3"),
				recv(ctl(0xffff_ffff, alive, 0, 0)),
				recv(ctl(0, alive, 0, 0)),
				recv(ctl(1, ack, 0xffff_fffe, 0)), queued(1, 0, 0),
				flush("1 ACK [4294967294,1]"),
				recv(ctl(3, alive, 0, 0)),
				flush("2 NACK [2,2]"),
			},
		},
		{
			name: "resync request goes out once and stays until acknowledged",
			steps: []step{
				done, resync(), flush("100 RESYNC [0,0]"), queued(0, 1, 0),
				recv(ctl(501, ack, 100, 100)), queued(0, 0, 0),
			},
		},
		{
			name: "received resync: objects awaiting ack re-sent, bulk send requested",
			steps: []step{
				done,
				put(1, 1, StatusNew), put(2, 2, StatusDead),
				flush("100 NEW k1=1", "101 DEL k2=2"),
				recv(ctl(501, rsync, 0, 0)),
				events("bulk send"),
				put(3, 3, StatusNew),
				flush("102 NEW k1=1", "103 DEL k2=2", "104 NEW k3=3"),
				stats(func(s *Stats) { s.ResyncsRequested = 1 }),
			},
		},
		{
			name: "overflow drops the oldest, counts it, paces and re-sends it once the queue drains",
			cfg:  Config{ResendQueueSize: 2},
			steps: []step{
				done,
				put(1, 1, StatusDead), put(2, 2, StatusNew), put(3, 3, StatusNew), put(4, 4, StatusNew),
				// 102 pushes the delete of k1 out; from then on data waits for room.
				flush("100 DEL k1=1", "101 NEW k2=2", "102 NEW k3=3"),
				queued(1, 2, 1),
				stats(func(s *Stats) { s.Overflows = 1 }),
				recv(ctl(501, ack, 102, 102)),
				// Half the queue is free: k1 goes back to tx, behind k4; data
				// still paced to the free slot.
				flush("103 NEW k4=4"),
				queued(1, 2, 0),
				recv(ctl(502, ack, 101, 103)),
				flush("104 DEL k1=1"),
				recv(ctl(503, ack, 104, 104)),
				flush(), queued(0, 0, 0),
				events(),
				stats(func(s *Stats) { s.Overflows = 1; s.Repairs = 1 }),
			},
		},
		{
			name: "update of an object dropped by overflow re-queues it at once",
			cfg:  Config{ResendQueueSize: 1},
			steps: []step{
				done,
				put(1, 1, StatusNew), put(2, 2, StatusNew),
				flush("100 NEW k1=1", "101 NEW k2=2"), queued(0, 1, 1),
				put(1, 5, StatusAlive), queued(1, 1, 0),
				flush(), // repairing: data waits for room
				recv(ctl(501, ack, 101, 101)),
				flush("102 UPD k1=5"), queued(0, 1, 0),
				// Repair over: the legacy drop happens again.
				put(3, 3, StatusNew), flush("103 NEW k3=3"), queued(0, 1, 1),
				stats(func(s *Stats) { s.Overflows = 2 }),
			},
		},
		{
			name: "dropped nack that the peer missed: resync request",
			cfg:  Config{ResendQueueSize: 1},
			steps: []step{
				done,
				recv(ctl(503, alive, 0, 0)),
				// The nack pushes the ack out: no repair needed for that.
				flush("100 ACK [500,500]", "101 NACK [501,502]"),
				tick(time.Second),
				flush("102 ACK [503,503]"), // pushes the nack out
				recv(ctl(504, nack, 101, 101)),
				flush(), // waits until the queue has drained
				recv(ctl(505, ack, 102, 102)),
				flush("103 RESYNC [0,0]"),
				events(),
				stats(func(s *Stats) { s.Overflows = 2; s.RepairResyncs = 1; s.Lost = 2 }),
			},
		},
		{
			name: "dropped nack that the peer acknowledged: nothing to repair",
			cfg:  Config{ResendQueueSize: 1},
			steps: []step{
				done,
				recv(ctl(503, alive, 0, 0)),
				flush("100 ACK [500,500]", "101 NACK [501,502]"),
				tick(time.Second),
				flush("102 ACK [503,503]"),
				recv(ctl(504, ack, 101, 102)),
				recv(ctl(505, nack, 101, 101)), // late: the number is forgotten
				flush(),
				stats(func(s *Stats) { s.Overflows = 2; s.Lost = 2 }),
			},
		},
		{
			name: "resend timeout: data and our resync re-sent",
			cfg:  Config{ResendTimeout: 3 * time.Second},
			steps: []step{
				done,
				put(1, 1, StatusNew), flush("100 NEW k1=1"),
				resync(), flush("101 RESYNC [0,0]"),
				tick(2999 * time.Millisecond), flush("102 ACK [500,500]"),
				tick(time.Millisecond), flush("103 NEW k1=1", "104 RESYNC [0,0]"),
				queued(0, 3, 0),
				// The old number is gone: a NACK for it changes nothing.
				recv(ctl(501, nack, 101, 101)),
				flush(),
				stats(func(s *Stats) { s.TimedOut = 2 }),
			},
		},
		{
			name: "resend timeout: a NACK of ours forgotten, asked again by RESYNC when the peer misses it",
			cfg:  Config{ResendTimeout: 3 * time.Second},
			steps: []step{
				done,
				recv(ctl(502, alive, 0, 0)), // 501 lost
				flush("100 ACK [500,500]", "101 NACK [501,501]"),
				tick(3 * time.Second),
				flush("102 ACK [502,502]"),
				queued(0, 1, 0),
				// The peer never got our NACK: it says so.
				recv(ctl(503, nack, 100, 101)),
				flush("103 RESYNC [0,0]"),
				stats(func(s *Stats) { s.Lost, s.TimedOut, s.RepairResyncs = 1, 2, 1 }),
			},
		},
		{
			name: "malformed control messages are counted and not tracked",
			steps: []step{
				done,
				recv(ctl(501, ack, 9, 8)),
				recv(ctl(501, nack, 9, 8)),
				recv(ctl(501, 0, 0, 0)),
				recv(data(501, wire.TypeCTNew, 1, 1, ack)),
				recv(ctl(501, alive, 0, 0)),
				flush(),
				events(),
				stats(func(s *Stats) { s.Malformed = 4 }),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.InitialSeq == 0 {
				cfg.InitialSeq = 100
			}
			if cfg.ResendQueueSize == 0 {
				cfg.ResendQueueSize = 16
			}
			rec := &recorder{}
			h := &harness{t: t, rec: rec, now: t0}
			h.s = New[uint16, obj](cfg, rec, t0)
			for _, st := range tt.steps {
				st(h)
			}
		})
	}
}
