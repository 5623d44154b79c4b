package ftfw

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// FuzzReceive drives a Session with an arbitrary script of peer messages
// (any type and flag byte, sequence numbers and ranges near ours so that
// they hit), local events, bulk objects, ticks and flushes. Properties: no panic, the
// queues stay consistent, the resend queue never exceeds its capacity and
// every flushed message encodes and decodes.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{0, 0x0a, 0x10, 0, 0, 0, 0, 0, 0, 1, 5, 3})
	f.Add([]byte{1, 3, 1, 7, 3, 0, 0x0a, 0x04, 0, 1, 0, 0, 0, 2, 3, 2, 9, 3})
	f.Add([]byte{5, 1, 5, 3, 5, 2, 3, 1, 4, 0, 6, 5, 6, 3, 0, 0x0a, 0x10, 0, 0, 0, 0, 0, 0, 2, 9, 3})
	f.Add([]byte{0, 0x0a, 0x28, 0, 1, 0, 0, 0, 5, 0, 0x0a, 0x22, 0, 9, 0, 0, 0, 0, 3, 4, 3})
	f.Fuzz(func(t *testing.T, script []byte) {
		now := t0
		s := New[uint16, obj](Config{ResendQueueSize: 4, ACKWindowSize: 3, InitialSeq: 0xffff_fff0, ResendTimeout: 3 * time.Second}, nopHandler{}, now)
		var buf []byte
		var m wire.Message
		for len(script) > 0 {
			op := script[0] % 7
			script = script[1:]
			switch op {
			case 0: // peer message: type, flags, seq16, from16, to16
				if len(script) < 8 {
					return
				}
				var in wire.Message
				in.Type, in.Flags = wire.Type(script[0]&0x0f), wire.Flags(script[1])
				in.Seq = uint32(binary.BigEndian.Uint16(script[2:]))
				in.From = 0xffff_fff0 + uint32(binary.BigEndian.Uint16(script[4:]))
				in.To = 0xffff_fff0 + uint32(binary.BigEndian.Uint16(script[6:]))
				script = script[8:]
				s.Receive(&in)
			case 1: // local event: key, status
				if len(script) < 2 {
					return
				}
				k := uint16(script[0] % 8)
				s.Enqueue(k, obj{Key: k, Val: uint32(script[1]), St: Status(script[1] % 3)})
				script = script[2:]
			case 2:
				if len(script) < 1 {
					return
				}
				now = now.Add(time.Duration(script[0]) * 20 * time.Millisecond)
				script = script[1:]
				s.Tick(now)
			case 3:
				for _, out := range s.Flush(now) {
					buf = wire.AppendMessage(buf[:0], &out)
					if _, err := wire.Decode(buf, &m); err != nil {
						t.Fatalf("flushed %s does not decode: %v", show(&out), err)
					}
				}
			case 4:
				s.RequestResync()
			case 5: // a bulk object, queued keyless: status, gone too
				if len(script) < 1 {
					return
				}
				s.Add(obj{Key: uint16(script[0] % 8), Val: uint32(script[0]), St: Status(script[0] % 4)})
				script = script[1:]
			case 6: // a new bulk send drops the unsent ones
				s.DropUnsent()
			}
			if err := s.check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

type nopHandler struct{}

func (nopHandler) Apply(*wire.Message) {}
func (nopHandler) BulkSend()           {}

// check verifies the queue invariants.
func (s *Session[K, O]) check() error {
	seen := 0
	data := 0
	for _, l := range []struct {
		l     *list
		where uint8
	}{{&s.tx, inTx}, {&s.ctl, inCtl}, {&s.resend, inResend}, {&s.lost, inLost}, {&s.bulkTx, inBulkTx}, {&s.bulkSent, inBulkSent}} {
		n := 0
		prev := int32(nilIdx)
		for i := l.l.head; i != nilIdx; i = s.entries[i].next {
			e := &s.entries[i]
			if e.where != l.where || e.prev != prev {
				return fmt.Errorf("entry %d: where %d prev %d, want %d %d", i, e.where, e.prev, l.where, prev)
			}
			if (l.where == inTx && e.ctl != 0) || (l.where == inCtl && e.ctl == 0) {
				return fmt.Errorf("entry %d: control flags %v in list %d", i, e.ctl, l.where)
			}
			// The objects of a bulk send stay out of the resend queue
			// and its transmit queue (they never count against
			// ResendQueueSize), and keyed ones out of the bulk's.
			bulkList := l.where == inBulkTx || l.where == inBulkSent
			if e.keyless != bulkList && (l.where != inLost || e.ctl != 0) {
				return fmt.Errorf("entry %d: keyless %v in list %d", i, e.keyless, l.where)
			}
			if !e.keyless && e.ctl == 0 {
				data++
				if j, ok := s.keys[e.key]; !ok || j != i {
					return fmt.Errorf("entry %d: key %v maps to %d, %v", i, e.key, j, ok)
				}
			}
			prev = i
			n++
		}
		if n != l.l.n || prev != l.l.tail {
			return fmt.Errorf("list %d: counted %d want %d, tail %d want %d", l.where, n, l.l.n, prev, l.l.tail)
		}
		seen += n
	}
	if data != len(s.keys) {
		return fmt.Errorf("%d data entries queued, %d keys", data, len(s.keys))
	}
	if seen+len(s.free) != len(s.entries) {
		return fmt.Errorf("%d queued + %d free != %d entries", seen, len(s.free), len(s.entries))
	}
	if s.resend.n > s.cfg.ResendQueueSize {
		return fmt.Errorf("resend queue holds %d, capacity %d", s.resend.n, s.cfg.ResendQueueSize)
	}
	return nil
}
