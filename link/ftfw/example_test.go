package ftfw_test

import (
	"fmt"
	"time"

	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// flow is the engine's object; here a key and a mark.
type flow struct {
	id     uint32
	mark   uint32
	status ftfw.Status
}

func (f *flow) Status() ftfw.Status { return f.status }

func (f *flow) Put(m *wire.Message) wire.Type {
	m.Flow.Timeout, m.Flow.Mark = f.id, f.mark
	m.Flow.Set(wire.AttrTimeout)
	m.Flow.Set(wire.AttrMark)
	return wire.TypeCTNew
}

type printer struct{ name string }

func (p printer) Apply(m *wire.Message) {
	fmt.Printf("%s applies %v id=%d mark=%d\n", p.name, m.Type, m.Flow.Timeout, m.Flow.Mark)
}

func (p printer) BulkSend() { fmt.Printf("%s: bulk send\n", p.name) }

// Two sessions connected by a byte buffer standing in for the sync link.
func Example() {
	now := time.Unix(1_700_000_000, 0)
	a := ftfw.New[uint32, *flow](ftfw.Config{}, printer{"a"}, now)
	b := ftfw.New[uint32, *flow](ftfw.Config{}, printer{"b"}, now)
	link := func(from []wire.Message, to *ftfw.Session[uint32, *flow]) {
		var buf []byte
		for i := range from {
			m := &from[i]
			fmt.Printf("wire: seq %d %v flags %#02x", m.Seq, m.Type, uint8(m.Flags))
			if m.Ranged() {
				fmt.Printf(" [%d,%d]", m.From, m.To)
			}
			fmt.Println()
			buf = wire.AppendMessage(buf, m)
		}
		var m wire.Message
		for len(buf) > 0 {
			n, err := wire.Decode(buf, &m)
			if err != nil {
				panic(err)
			}
			to.Receive(&m)
			buf = buf[n:]
		}
	}

	f := &flow{id: 7, mark: 1, status: ftfw.StatusNew}
	a.Enqueue(f.id, f)
	f.mark, f.status = 2, ftfw.StatusAlive // coalesced: one UPDATE goes out
	link(a.Flush(now), b)

	now = now.Add(time.Second) // alive timers: b acknowledges, a says alive
	b.Tick(now)
	link(b.Flush(now), a)
	a.Tick(now)
	link(a.Flush(now), b)
	_, resend, _ := a.Queued()
	// a's resend queue holds its ACK of b's ACK: control messages are
	// acknowledged like data, so idle peers trade ACKs forever (legacy). The flags match the
	// legacy start-up trace: ACK+HELLO+HELLO_BACK, then ACK+HELLO_BACK.
	fmt.Println("a awaits acknowledgement of", resend, "message(s)")
	// Output:
	// wire: seq 1700000000 ct-update flags 0x20
	// b applies ct-update id=7 mark=2
	// wire: seq 1700000000 control flags 0x68 [1700000000,1700000000]
	// wire: seq 1700000001 control flags 0x48 [1700000000,1700000000]
	// a awaits acknowledgement of 1 message(s)
}
