package link_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// conn is a replicated TCP flow in the benchmarking range; ver is carried
// as the mark, so the receiver can tell which update it holds.
type conn struct {
	id  uint16
	ver uint32
	st  ftfw.Status
}

func (c conn) Status() ftfw.Status { return c.st }

func (c conn) Put(m *wire.Message) wire.Type {
	f := &m.Flow
	f.Orig = wire.Tuple{
		Src:     netip.AddrFrom4([4]byte{198, 18, byte(c.id >> 8), byte(c.id)}),
		Dst:     netip.AddrFrom4([4]byte{198, 19, 0, 1}),
		SrcPort: 40000 + c.id, DstPort: 443, Proto: 6,
	}
	f.Set(wire.AttrIPv4)
	f.Set(wire.AttrL4Proto)
	f.Set(wire.AttrPort)
	f.Mark = c.ver
	f.Set(wire.AttrMark)
	return wire.TypeCTNew
}

// table is the receiving engine's external cache: flow source -> mark.
type table map[netip.Addr]uint32

func (t table) Apply(m *wire.Message) {
	switch m.Type {
	case wire.TypeCTNew, wire.TypeCTUpdate:
		t[m.Flow.Orig.Src] = m.Flow.Mark
	case wire.TypeCTDelete:
		delete(t, m.Flow.Orig.Src)
	}
}
func (t table) BulkSend() {}

type quiet struct{}

func (quiet) Apply(*wire.Message) {}
func (quiet) BulkSend()           {}

// datagram is what a receive goroutine hands to the single goroutine that
// owns the sessions (a Session is not safe for concurrent use).
type datagram struct {
	b   []byte
	idx int
}

func receive(t *testing.T, g *link.Group, out chan<- datagram) {
	go func() {
		for {
			buf := make([]byte, 65536)
			n, idx, err := g.Recv(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			out <- datagram{buf[:n], idx}
		}
	}()
}

// TestIntegrationFailOverLosesNothing: FT-FW over two UDP links. The
// active veth goes down while updates are flowing; traffic moves to the
// second link and, once the sender stops, the peer's cache holds exactly
// the sender's flows: everything sent into the dead link was recovered by
// the reliable protocol.
func TestIntegrationFailOverLosesNothing(t *testing.T) {
	netnstest.RequirePrivileged(t)
	lab := newTwoLinkLab(t)
	ga, gb := lab.ga, lab.gb

	now := time.Now()
	cfg := ftfw.Config{ACKWindowSize: 16, AliveInterval: 100 * time.Millisecond, ResendTimeout: 500 * time.Millisecond}
	got := table{}
	sender := ftfw.New[uint16, conn](cfg, quiet{}, now)
	peer := ftfw.New[uint16, conn](cfg, got, now)

	inA, inB := make(chan datagram, 1024), make(chan datagram, 1024)
	receive(t, ga, inA)
	receive(t, gb, inB)

	var buf []byte
	flush := func(s *ftfw.Session[uint16, conn], g *link.Group, now time.Time) {
		for _, m := range s.Flush(now) {
			buf = wire.AppendMessage(buf[:0], &m)
			g.Send(buf) // a send into a dead link is lost, as on a real wire
		}
	}
	deliver := func(s *ftfw.Session[uint16, conn], g *link.Group, d datagram) {
		var m wire.Message
		for off := 0; off < len(d.b); {
			n, err := wire.Decode(d.b[off:], &m)
			if err != nil {
				t.Errorf("undecodable datagram on link %d: %v", d.idx, err)
				return
			}
			g.Valid(d.idx)
			s.Receive(&m)
			off += n
		}
	}
	// pump runs both ends for d, or until done reports true.
	pump := func(d time.Duration, done func() bool) bool {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			now := time.Now()
			sender.Tick(now)
			peer.Tick(now)
			flush(sender, ga, now)
			flush(peer, gb, now)
			select {
			case dg := <-inA:
				deliver(sender, ga, dg)
			case dg := <-inB:
				deliver(peer, gb, dg)
			case <-time.After(5 * time.Millisecond):
			}
			// Then everything else already received, as an engine
			// reads its socket dry: one datagram per round against a
			// Flush of hundreds, under -race and CPU load, let the
			// backlog outgrow ResendTimeout, so each round re-sent the
			// whole queue again and the socket buffers dropped what
			// would have converged (runs of 12 s, or none in 15 s).
			for drained := false; !drained; {
				select {
				case dg := <-inA:
					deliver(sender, ga, dg)
				case dg := <-inB:
					deliver(peer, gb, dg)
				default:
					drained = true
				}
			}
			if done != nil && done() {
				return true
			}
		}
		return false
	}

	// Expected final state, maintained as the sender changes flows.
	want := table{}
	set := func(c conn) {
		sender.Enqueue(c.id, c)
		addr := netip.AddrFrom4([4]byte{198, 18, byte(c.id >> 8), byte(c.id)})
		if c.st == ftfw.StatusDead {
			delete(want, addr)
		} else {
			want[addr] = c.ver
		}
	}
	const flows = 300
	for id := range uint16(flows) {
		set(conn{id: id, ver: 1, st: ftfw.StatusNew})
	}
	pump(300*time.Millisecond, nil)

	// The cable is pulled on the peer's side while updates and deletes keep
	// coming: the sender's end loses carrier, so what it sends before it
	// notices goes nowhere, as with a real cable.
	lab.nsB.SetLink(t, lab.b0, "down")
	for id := range uint16(flows) {
		switch {
		case id%10 == 0:
			set(conn{id: id, ver: 1, st: ftfw.StatusDead})
		default:
			set(conn{id: id, ver: 2, st: ftfw.StatusAlive})
		}
		if id%50 == 0 {
			pump(20*time.Millisecond, nil)
		}
	}
	waitActive(t, ga, 1)

	// Converged: the peer holds exactly the sender's flows and nothing is
	// waiting to be sent. (An entry can linger in the resend queue after
	// that without any state missing: see the note on the resend queue in
	// link/ftfw; it is logged below.)
	converged := func() bool {
		tx, _, _ := sender.Queued()
		return tx == 0 && fmt.Sprint(got) == fmt.Sprint(want)
	}
	if !pump(15*time.Second, converged) {
		tx, resend, lost := sender.Queued()
		t.Fatalf("not converged after 15s: peer has %d flows, want %d; sender queues tx=%d resend=%d lost=%d; stats %+v",
			len(got), len(want), tx, resend, lost, sender.Stats())
	}
	if gb.Active() != 1 {
		t.Errorf("peer's active link = %d, want the second (1)", gb.Active())
	}
	_, resend, _ := sender.Queued()
	t.Logf("converged on %d flows; peer saw %d messages lost, sender retransmitted %d; %d left in the resend queue",
		len(got), peer.Stats().Lost, sender.Stats().Retransmitted, resend)
}
