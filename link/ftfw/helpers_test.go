package ftfw

import (
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/link/wire"
)

// obj is the test object: a key and a value, carried as the flow's timeout
// and mark so that it survives the wire codec.
type obj struct {
	Key uint16
	Val uint32
	St  Status
	// of, when set, makes obj a keyless bulk object as the engine's:
	// its state is read from the engine at transmission, and it is
	// StatusGone once the key is no longer live there.
	of *engineA
}

func (o obj) Status() Status {
	if o.of != nil {
		if !o.of.live[o.Key] {
			return StatusGone
		}
		return o.of.state[o.Key].St
	}
	return o.St
}

func (o obj) Put(m *wire.Message) wire.Type {
	if o.of != nil {
		o = o.of.state[o.Key]
	}
	m.Flow.Timeout = uint32(o.Key)
	m.Flow.Set(wire.AttrTimeout)
	m.Flow.Mark = o.Val
	m.Flow.Set(wire.AttrMark)
	return wire.TypeCTNew
}

// recorder is a Handler that logs what it is asked to do.
type recorder struct {
	log []string
}

func (r *recorder) Apply(m *wire.Message) { r.log = append(r.log, "apply "+show(m)) }

func (r *recorder) BulkSend() {
	r.log = append(r.log, "bulk send")
}

// show prints a message compactly: "seq TYPE details [flags]".
func show(m *wire.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d ", m.Seq)
	switch {
	case m.Type == wire.TypeControl:
		switch {
		case m.Flags&wire.FlagAck != 0:
			b.WriteString("ACK")
		case m.Flags&wire.FlagNack != 0:
			b.WriteString("NACK")
		case m.Flags&wire.FlagResync != 0:
			b.WriteString("RESYNC")
		case m.Flags&wire.FlagAlive != 0:
			b.WriteString("ALIVE")
		default:
			b.WriteString("CTL?")
		}
		if m.Ranged() {
			fmt.Fprintf(&b, " [%d,%d]", m.From, m.To)
		}
	default:
		name := [...]string{"NEW", "UPD", "DEL", "EXPNEW", "EXPUPD", "EXPDEL"}
		t := "T?"
		if int(m.Type) < len(name) {
			t = name[m.Type]
		}
		fmt.Fprintf(&b, "%s k%d=%d", t, m.Flow.Timeout, m.Flow.Mark)
	}
	if m.Flags&wire.FlagHello != 0 {
		b.WriteString(" hello")
	}
	if m.Flags&wire.FlagHelloBack != 0 {
		b.WriteString(" hello-back")
	}
	return b.String()
}

func showAll(ms []wire.Message) []string {
	var out []string
	for i := range ms {
		out = append(out, show(&ms[i]))
	}
	return out
}

// ctl builds a control message from the peer.
func ctl(seq uint32, f wire.Flags, from, to uint32) *wire.Message {
	m := &wire.Message{}
	m.Type, m.Flags, m.Seq, m.From, m.To = wire.TypeControl, f, seq, from, to
	return m
}

// data builds a data message from the peer.
func data(seq uint32, t wire.Type, key uint16, val uint32, f wire.Flags) *wire.Message {
	m := &wire.Message{}
	m.Type, m.Flags, m.Seq = t, f, seq
	m.Flow.Timeout, m.Flow.Mark = uint32(key), val
	m.Flow.Set(wire.AttrTimeout)
	m.Flow.Set(wire.AttrMark)
	return m
}
