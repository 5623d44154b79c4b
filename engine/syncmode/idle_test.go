package syncmode_test

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/syncmode"
)

// Two idle FT-FW peers exchange one ACK a second each, and each ACK is
// acknowledged by the other's next one (conntrackd's src/sync-ftfw.c keeps
// ACKs in the resend queue too). So the resend queue of an idle node is
// not empty for long, but holds nothing but its own latest ACK: a wait for
// a bulk's acknowledgement must look for that (internal/figures), not for
// an empty queue.
func TestFTFWIdleResendQueueHoldsOnlyTheLatestACK(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 1})
	nodes := []*node{a, b}
	now := t0
	for i := range 300 {
		a.create(i, now)
	}
	run(t, &now, now.Add(350*time.Millisecond), 10*time.Millisecond, nodes, links)
	// B sends now, so that its alive timer runs at another moment than A's.
	b.create(9999, now)
	run(t, &now, now.Add(3*time.Second), 10*time.Millisecond, nodes, links)

	da, db := a.m.Stats().Datagrams, b.m.Stats().Datagrams
	var emptyA, steps int
	end := now.Add(10 * time.Second)
	for now.Before(end) {
		now = now.Add(10 * time.Millisecond)
		run(t, &now, now, 10*time.Millisecond, nodes, links)
		for _, n := range nodes {
			if tx, rs, ok := n.m.Queued(0); !ok || tx != 0 || rs > 1 {
				t.Fatalf("%v: %s's queues: transmit %d, resend %d; want at most its own ACK waiting", now.Sub(t0), n.name, tx, rs)
			}
		}
		if _, rs, _ := a.m.Queued(0); rs == 0 {
			emptyA++
		}
		steps++
	}
	if emptyA == 0 || emptyA == steps {
		t.Errorf("A's resend queue was empty in %d of %d steps; want it to hold its ACK part of each second", emptyA, steps)
	}
	// One datagram a second each way, give or take the ends.
	for _, c := range []struct {
		n    *node
		from uint64
	}{{a, da}, {b, db}} {
		if got := c.n.m.Stats().Datagrams - c.from; got < 9 || got > 11 {
			t.Errorf("%s sent %d datagrams in 10 idle seconds, want 10", c.n.name, got)
		}
	}
}
