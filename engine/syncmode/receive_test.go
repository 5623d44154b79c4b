package syncmode_test

import (
	"testing"
	"time"
)

// Garbage from a peer is refused with an error and counted; what came
// before it in the datagram is kept, and the mode goes on working.
func TestReceiveMalformed(t *testing.T) {
	good := capturedStream(t, "notrack-udp.txtar")[7] // one CT NEW
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			b := newNode(t, "b", nodeOpts{kind: kind, refresh: time.Second, seed: 5})
			for _, d := range [][]byte{
				{0xff},
				{0x10, 0x00, 0x00, 0x04, 1, 2, 3, 4}, // length below the header
				append(append([]byte(nil), good...), 0x10, 0x00, 0xff, 0xff),
			} {
				if err := b.m.Receive(0, d, t0); err == nil {
					t.Errorf("datagram % x accepted", d)
				}
			}
			if s := b.m.Stats(); s.Malformed != 3 {
				t.Errorf("%d malformed datagrams counted, want 3", s.Malformed)
			}
			if len(live(b.ext)) != 1 {
				t.Errorf("the message before the garbage was not applied")
			}
			if err := b.m.Receive(7, good, t0); err == nil {
				t.Error("datagram from an unknown peer accepted")
			}
		})
	}
}

// FuzzReceive: any datagram, in any mode, with or without expectations, gives an error or not, never a
// crash, and leaves the external cache within what it can hold.
func FuzzReceive(f *testing.F) {
	for _, file := range []string{"notrack-udp.txtar", "ftfw-udp.txtar"} {
		for i, d := range capturedStream(f, file) {
			if i < 12 {
				f.Add(uint8(i%3), d)
			}
		}
	}
	f.Add(uint8(0), []byte{0x1a, 0x02, 0x00, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, k uint8, d []byte) {
		kind := allKinds[int(k)%len(allKinds)]
		// Half the runs replicate expectations too.
		b := newNode(t, "b", nodeOpts{kind: kind, refresh: time.Second, seed: 1, exps: k&4 != 0})
		b.create(1, t0)
		_ = b.m.Receive(0, d, t0)
		b.m.Tick(t0.Add(2 * time.Second))
		if err := b.m.Flush(t0.Add(2 * time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}
