package ftfw

import (
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// TestLostStartupResyncIsSentAgain: a node that starts with
// StartupResync sends RESYNC as its very first message, with HELLO. When
// that datagram is lost (the link is still coming up), the peer never NACKs
// it: the next message also carries HELLO, and a HELLO skips the gap check.
// The RESYNC must be sent again (on the peer's HELLO, or when the resend
// timer fires), or the starting node never gets the peer's table.
func TestLostStartupResyncIsSentAgain(t *testing.T) {
	cfg := Config{ACKWindowSize: 16, AliveInterval: 100 * time.Millisecond, ResendTimeout: 300 * time.Millisecond}
	now := t0
	ra := &recorder{}
	ca, cb := cfg, cfg
	ca.InitialSeq, cb.InitialSeq = 1_000_000, 5_000_000
	a := New[uint16, obj](ca, ra, now) // the running node with the table
	b := New[uint16, obj](cb, nopHandler{}, now)

	b.RequestResync()
	if got := showAll(b.Flush(now)); len(got) != 1 || got[0] != "5000000 RESYNC [0,0] hello" {
		t.Fatalf("b's first transmission = %q, want the RESYNC", got)
	}
	// That datagram is lost; from now on the link is perfect.
	var scratch wire.Message
	deliver := func(to *Session[uint16, obj], msgs []wire.Message) {
		for i := range msgs {
			buf := wire.AppendMessage(nil, &msgs[i])
			if _, err := wire.Decode(buf, &scratch); err != nil {
				t.Fatalf("decode: %v", err)
			}
			to.Receive(&scratch)
		}
	}
	for range 300 { // 3 s, 30 alive intervals, 10 resend timeouts
		now = now.Add(10 * time.Millisecond)
		a.Tick(now)
		b.Tick(now)
		ma := append([]wire.Message(nil), a.Flush(now)...)
		mb := append([]wire.Message(nil), b.Flush(now)...)
		deliver(b, ma)
		deliver(a, mb)
	}
	for _, ev := range ra.log {
		if ev == "bulk send" {
			return
		}
	}
	t.Errorf("the peer was never asked for a bulk send after the RESYNC was lost; b's stats %+v", b.Stats())
}

// TestHelloNackOfOurResyncIsAnswered: our HELLO is answered, but our
// HELLO_BACK rode on a RESYNC that was lost, so the peer's messages still
// carry HELLO; our next message (no HELLO any more) shows the peer the gap
// and it reports the RESYNC missing with HELLO|NACK. The HELLO empties the
// resend queue before the NACK is processed, so the RESYNC must go out
// again from there, or the request is silently lost.
func TestHelloNackOfOurResyncIsAnswered(t *testing.T) {
	rec := &recorder{}
	s := New[uint16, obj](Config{InitialSeq: 100}, rec, t0)
	now := t0.Add(time.Second)
	s.Tick(now)
	s.Flush(now)                                       // 100 ALIVE hello
	s.Receive(ctl(500, ack|hello|helloBack, 100, 100)) // peer starts and answers
	s.RequestResync()
	if got := showAll(s.Flush(now)); len(got) != 1 || got[0] != "101 RESYNC [0,0] hello-back" {
		t.Fatalf("flush = %q", got)
	}
	// That datagram is lost. Our next message shows the peer the gap.
	now = now.Add(time.Second)
	s.Tick(now)
	s.Flush(now) // 102 ACK [500,500]
	s.Receive(ctl(501, nack|hello, 101, 101))
	var sent []string
	for range 30 {
		now = now.Add(time.Second)
		s.Tick(now)
		sent = append(sent, showAll(s.Flush(now))...)
	}
	for _, m := range sent {
		if strings.Contains(m, "RESYNC") {
			return
		}
	}
	t.Errorf("the NACKed RESYNC was never sent again; sent %q, stats %+v", sent, s.Stats())
}
