package syncmode_test

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// NOTRACK without an internal cache (conntrackd's DisableInternalCache):
// what Direct is given reaches the peer's external cache, and a peer's
// RESYNC asks the engine for the kernel's table.
func TestBypass(t *testing.T) {
	out := &pipe{}
	bulks := 0
	var m *syncmode.Mode
	var err error
	m, err = syncmode.New(syncmode.Settings{
		Kind: syncmode.NoTrack, MaxDatagram: 1472,
		BulkDirect: func() { bulks++ },
	}, convert(), nil, nil, []syncmode.Sender{out}, t0)
	if err != nil {
		t.Fatal(err)
	}
	b := newNode(t, "b", nodeOpts{kind: syncmode.NoTrack})
	now := t0
	for i := range 100 {
		f := testFlow(i)
		if err := m.Direct(wire.TypeCTNew, &f); err != nil {
			t.Fatal(err)
		}
	}
	f := testFlow(0)
	m.Direct(wire.TypeCTDelete, &f)
	if err := m.Flush(now); err != nil {
		t.Fatal(err)
	}
	deliver(t, out, b, 0, now)
	if got := b.ext.Len(); got != 99 {
		t.Fatalf("the peer's external cache holds %d flows, want 99", got)
	}

	// b asks for a resync: the bypass answers through BulkDirect.
	// b asks three times before a flush (a datagram full of RESYNCs):
	// one walk of the table answers them all.
	b.m.RequestResync()
	b.m.Flush(now)
	for _, d := range b.out[0].take() {
		for range 3 {
			if err := m.Receive(0, d, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.Flush(now)
	if bulks != 1 {
		t.Fatalf("BulkDirect called %d times for three RESYNCs, want 1", bulks)
	}
	m.BulkSend()
	if bulks != 2 {
		t.Fatalf("BulkDirect called %d times after BulkSend, want 2", bulks)
	}
	// ALIVE still goes out when idle.
	m.Tick(now.Add(2 * time.Second))
	m.Flush(now.Add(2 * time.Second))
	if len(out.take()) != 1 {
		t.Fatal("no ALIVE from an idle bypass")
	}
}

func TestBypassOnlyNoTrack(t *testing.T) {
	for _, k := range []syncmode.Kind{syncmode.FTFW, syncmode.Alarm} {
		_, err := syncmode.New(syncmode.Settings{Kind: k, MaxDatagram: 1472, RefreshTime: time.Minute, FTFW: ftfw.Config{}}, convert(), nil, nil, nil, t0)
		if err == nil {
			t.Errorf("%v without an internal cache accepted", k)
		}
	}
}
