package syncmode_test

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/syncmode"
)

// TestPeerStateComplete: B asks A for its table (ALARM: just listens).
// Each mode's rule must not call the copy complete before B holds all of
// A's table, and must call it complete within its bound.
func TestPeerStateComplete(t *testing.T) {
	tests := []struct {
		kind    syncmode.Kind
		loss    float64
		reorder bool
		// within: the bound from the request to completion.
		within time.Duration
		// notBefore: completion must not come earlier (the rule waits).
		notBefore time.Duration
	}{
		{kind: syncmode.FTFW, within: 5 * time.Second},
		{kind: syncmode.FTFW, loss: 0.1, reorder: true, within: 30 * time.Second},
		{kind: syncmode.NoTrack, within: syncmode.NoTrackQuiet + 3*time.Second, notBefore: syncmode.NoTrackQuiet},
		{kind: syncmode.Alarm, within: 12 * time.Second, notBefore: 11 * time.Second},
	}
	for _, tt := range tests {
		name := tt.kind.String()
		if tt.loss > 0 {
			name += " lossy"
		}
		t.Run(name, func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: tt.kind, refresh: 10 * time.Second, seed: 3, loss: tt.loss, reorder: tt.reorder})
			nodes := []*node{a, b}
			now := t0
			a.out[0].cut = true // B was not listening
			for i := range 3000 {
				a.create(i, now)
			}
			run(t, &now, now.Add(time.Second), 10*time.Millisecond, nodes, links)
			a.out[0].cut = false
			if st, _ := b.m.PeerState(0, now); st.Complete {
				t.Fatalf("complete before anything was asked or heard: %+v", st)
			}
			b.m.RequestResync()
			start := now
			for {
				run(t, &now, now.Add(10*time.Millisecond), 10*time.Millisecond, nodes, links)
				if st, _ := b.m.PeerState(0, now); st.Complete {
					if took := now.Sub(start); took < tt.notBefore {
						t.Errorf("complete after %v, before the rule's %v", took, tt.notBefore)
					}
					t.Logf("complete after %v: %+v", now.Sub(start), st)
					sameTables(t, "when complete", a.internal, b.ext)
					if tt.kind != syncmode.Alarm && st.Received < 3000 {
						t.Errorf("Received = %d, want at least 3000", st.Received)
					}
					// The request arrived (only A's sends were cut): asked
					// once, answered once.
					if tt.kind == syncmode.NoTrack && a.m.Stats().Bulks != 1 {
						t.Errorf("A did %d bulk sends, want 1", a.m.Stats().Bulks)
					}
					return
				}
				if now.Sub(start) > tt.within {
					st, _ := b.m.PeerState(0, now)
					t.Fatalf("not complete %v after the request: %+v; B has %d flows", tt.within, st, len(live(b.ext)))
				}
			}
		})
	}
}

// TestPeerStatePending: in FT-FW, what the peer has not acknowledged is
// counted, and a queue that the peer stops draining shows as stalled
// since its last progress.
func TestPeerStatePending(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 4})
	nodes := []*node{a, b}
	now := t0
	for i := range 100 {
		a.create(i, now)
	}
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	if st, _ := a.m.PeerState(0, now); st.Pending != 0 {
		t.Fatalf("healthy link: %d pending, want 0", st.Pending)
	}
	b.stopped = true // the peer dies
	died := now
	for i := range 50 {
		a.update(i, 9, now)
	}
	run(t, &now, now.Add(10*time.Second), 10*time.Millisecond, nodes, links)
	st, _ := a.m.PeerState(0, now)
	if st.Pending != 50 {
		t.Errorf("peer dead: %d pending, want 50", st.Pending)
	}
	if st.Draining.After(died.Add(100 * time.Millisecond)) {
		t.Errorf("peer dead since %v: queue draining since %v, want no progress after it died", died.Sub(t0), st.Draining.Sub(t0))
	}
}

// TestPeerStateBusyQueueDrains: on a busy node the queue never empties
// (flows updated faster than the peer's ACKs come back are sent again
// before they are released); with a peer that acknowledges, that is
// progress all the same, or a busy primary would be called stalled.
func TestPeerStateBusyQueueDrains(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 5})
	nodes := []*node{a, b}
	now := t0
	for i := range 20 {
		a.create(i, now)
	}
	end := now.Add(20 * time.Second)
	for now.Before(end) {
		for i := range 20 {
			a.update(i, uint32(now.UnixMilli()), now)
		}
		run(t, &now, now.Add(10*time.Millisecond), 10*time.Millisecond, nodes, links)
		st, _ := a.m.PeerState(0, now)
		if stalled := now.Sub(st.Draining); stalled > 2*time.Second {
			t.Fatalf("healthy peer, busy queue of %d: no progress for %v", st.Pending, stalled)
		}
	}
	if st, _ := a.m.PeerState(0, now); st.Pending == 0 {
		t.Errorf("the queue emptied: the test did not keep it busy")
	}
}
