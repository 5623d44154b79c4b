package link_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/internal/transport"
)

// Two UDP links over two veth pairs: taking the active veth down, or
// removing it, moves sending to the second link on both sides.
func TestIntegrationGroupFailOver(t *testing.T) {
	netnstest.RequirePrivileged(t)
	tests := []struct {
		name string
		cut  func(t *testing.T, ns *netnstest.NetNS, ifname string)
		// peerState is what B reports of its first link afterwards.
		peerState string
		// bringBack: the cut interface can come back up (no automatic return).
		bringBack bool
	}{
		{
			name:      "set down",
			cut:       func(t *testing.T, ns *netnstest.NetNS, ifname string) { ns.SetLink(t, ifname, "down") },
			peerState: "NO-CARRIER", // DOWN on A's side, no carrier on B's
			bringBack: true,
		},
		{
			name:      "removed",
			cut:       func(t *testing.T, ns *netnstest.NetNS, ifname string) { ns.Exec(t, "ip", "link", "del", ifname) },
			peerState: "DOWN", // removing one end of a veth removes both
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := newTwoLinkLab(t)
			ga, gb, nsA, a0, b0, b1 := lab.ga, lab.gb, lab.nsA, lab.a0, lab.b0, lab.b1

			for seq := range uint32(3) {
				sendRecv(t, ga, gb, seq, 0)
			}
			tt.cut(t, nsA, a0)
			waitActive(t, ga, 1)
			waitActive(t, gb, 1)
			for seq := uint32(3); seq < 6; seq++ {
				sendRecv(t, ga, gb, seq, 1)
			}
			var out strings.Builder
			if err := link.WriteLinks(&out, gb.Status()); err != nil {
				t.Fatal(err)
			}
			var titles []string
			for l := range strings.Lines(out.String()) {
				if strings.Contains(l, "traffic") {
					titles = append(titles, l)
				}
			}
			want := []string{
				"UDP traffic device=" + b0 + " status=" + tt.peerState + " role=BACKUP:\n",
				"UDP traffic device=" + b1 + " status=RUNNING role=ACTIVE:\n",
			}
			if diff := cmp.Diff(want, titles); diff != "" {
				t.Errorf("B's -s link titles (-want +got):\n%s", diff)
			}
			if !tt.bringBack {
				return
			}
			// No automatic return: bringing the first link back changes nothing.
			nsA.SetLink(t, a0, "up")
			nsA.WaitOperUp(t, a0)
			sendRecv(t, ga, gb, 6, 1)
		})
	}
}

// twoLinkLab is two namespaces joined by two veth pairs, with a group of
// two UDP links over them on each side, the first one the default.
type twoLinkLab struct {
	nsA, nsB       *netnstest.NetNS
	a0, b0, a1, b1 string // interfaces: first pair, second pair
	ga, gb         *link.Group
}

func newTwoLinkLab(t *testing.T) *twoLinkLab {
	t.Helper()
	l := &twoLinkLab{nsA: netnstest.NewNetNS(t), nsB: netnstest.NewNetNS(t)}
	p := netip.MustParsePrefix
	l.a0, l.b0 = netnstest.Veth(t, l.nsA, l.nsB, []netip.Prefix{p("198.51.100.1/24")}, []netip.Prefix{p("198.51.100.2/24")})
	l.a1, l.b1 = netnstest.Veth(t, l.nsA, l.nsB, []netip.Prefix{p("203.0.113.1/24")}, []netip.Prefix{p("203.0.113.2/24")})
	settings := func(if0, if1, local0, peer0, local1, peer1 string) []link.Settings {
		return []link.Settings{
			{Name: "first", Transport: link.UDP, Default: true, Interface: if0,
				Local: netip.MustParseAddr(local0), Peer: netip.MustParseAddr(peer0), Port: 3780},
			{Name: "second", Transport: link.UDP, Interface: if1,
				Local: netip.MustParseAddr(local1), Peer: netip.MustParseAddr(peer1), Port: 3780},
		}
	}
	l.ga = openGroup(t, l.nsA, settings(l.a0, l.a1, "198.51.100.1", "198.51.100.2", "203.0.113.1", "203.0.113.2"))
	l.gb = openGroup(t, l.nsB, settings(l.b0, l.b1, "198.51.100.2", "198.51.100.1", "203.0.113.2", "203.0.113.1"))
	return l
}

func openGroup(t *testing.T, ns *netnstest.NetNS, s []link.Settings) *link.Group {
	t.Helper()
	var g *link.Group
	if err := ns.Do(func() (err error) { g, err = link.OpenGroup(s, nil); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func waitActive(t *testing.T, g *link.Group, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for g.Active() != want {
		if time.Now().After(deadline) {
			t.Fatalf("active link still %d after 3s, want %d", g.Active(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendRecv sends message seq from one group and checks the other receives
// it on link wantLink.
func sendRecv(t *testing.T, from, to *link.Group, seq uint32, wantLink int) {
	t.Helper()
	msg := []byte{0x1a, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(msg[4:], seq)
	if err := from.Send(msg); err != nil {
		t.Fatal(err)
	}
	type result struct {
		seq  uint32
		link int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		buf := make([]byte, 1<<16)
		n, l, err := to.Recv(buf)
		if err == nil && n != 16 {
			err = errors.New("wrong length")
		}
		got <- result{binary.BigEndian.Uint32(buf[4:]), l, err}
	}()
	select {
	case r := <-got:
		if r.err != nil || r.seq != seq || r.link != wantLink {
			t.Errorf("received seq %d on link %d (%v), want seq %d on link %d", r.seq, r.link, r.err, seq, wantLink)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("message %d not received within 3s", seq)
	}
}

// fake is a link without an interface whose sends fail on demand.
type fake struct {
	transport.Info
	fail bool
	sent int
	in   chan []byte
}

func newFake(name string) *fake {
	f := &fake{in: make(chan []byte, 4)}
	f.Init(name, nil, transport.DatagramOverhead)
	return f
}

func (f *fake) Send(b []byte) error {
	if f.fail {
		f.Counters().SendError()
		return errors.New("send failed")
	}
	f.sent++
	f.Counters().Sent(len(b))
	return nil
}

func (f *fake) Recv(buf []byte) (int, error) {
	b, ok := <-f.in
	if !ok {
		return 0, net.ErrClosed
	}
	return copy(buf, b), nil
}

func (f *fake) Close() error { close(f.in); return nil }

func TestGroupSendErrorsAndValid(t *testing.T) {
	l0, l1 := newFake("first"), newFake("second")
	g, err := link.NewGroup([]link.Link{l0, l1}, link.GroupOptions{MaxSendErrors: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	l0.fail = true
	if err := g.Send([]byte("x")); err == nil || g.Active() != 0 {
		t.Fatalf("first failure: err %v, active %d; want an error and link 0 still active", err, g.Active())
	}
	// The second failure in a row moves to link 1, which sends the datagram.
	if err := g.Send([]byte("x")); err != nil || g.Active() != 1 || l1.sent != 1 {
		t.Fatalf("second failure: err %v, active %d, link 1 sent %d; want fail-over and a send on link 1", err, g.Active(), l1.sent)
	}
	// A valid message on link 0 makes it active again (src/sync-mode.c).
	l0.in <- []byte("hello")
	buf := make([]byte, 1<<16)
	n, i, err := g.Recv(buf)
	if err != nil || i != 0 || string(buf[:n]) != "hello" {
		t.Fatalf("Recv = %q, %d, %v; want \"hello\" from link 0", buf[:n], i, err)
	}
	g.Valid(i)
	if g.Active() != 0 {
		t.Errorf("after a valid message on link 0, active = %d, want 0", g.Active())
	}
}
