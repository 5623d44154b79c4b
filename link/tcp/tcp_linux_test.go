package tcp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/tcp"
)

func TestIntegrationTCP(t *testing.T) {
	netnstest.RequirePrivileged(t)
	nsA, nsB := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
	a, b := netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("198.51.100.2/24")
	ifA, ifB := netnstest.Veth(t, nsA, nsB, []netip.Prefix{a}, []netip.Prefix{b})
	sa := tcp.Config{Name: "a", Interface: ifA, Local: a.Addr(), Peer: b.Addr(), Port: 3780, ErrorQueueLength: 4}
	sb := tcp.Config{Name: "b", Interface: ifB, Local: b.Addr(), Peer: a.Addr(), Port: 3780}
	la := open(t, nsA, sa)
	lb := open(t, nsB, sb)
	waitConnected(t, la, true)
	waitConnected(t, lb, true)

	// Several messages per send and sends of several sizes: the receiver
	// must cut the stream at message boundaries.
	send(t, la, message(1), append(message(2), message(3)...))
	expect(t, lb, 1, 2, 3)
	send(t, lb, message(10))
	expect(t, la, 10)

	// The peer restarts: A notices the closed connection, parks what it
	// cannot send, reconnects to the new listener and delivers the parked
	// datagrams first, in order.
	lb.Close()
	waitConnected(t, la, false)
	for _, seq := range []uint32{4, 5} {
		if err := la.Send(message(seq)); !errors.Is(err, tcp.ErrNotConnected) {
			t.Fatalf("send while the peer is down: %v, want ErrNotConnected", err)
		}
	}
	lb = open(t, nsB, sb)
	waitConnected(t, la, true)
	send(t, la, message(6))
	expect(t, lb, 4, 5, 6)
	if st := la.Counters().Stats(); st.ErrorsSent != 2 || st.Lost != 0 {
		t.Errorf("link a stats = %+v, want 2 send errors and nothing lost", st)
	}
}

// Parked datagrams go out once the link connects, without waiting for
// another send: an idle ALARM sender sends nothing for up to a minute.
func TestTCPParkedSentOnConnect(t *testing.T) {
	netnstest.RequirePrivileged(t)
	nsA, nsB := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
	a, b := netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("198.51.100.2/24")
	ifA, ifB := netnstest.Veth(t, nsA, nsB, []netip.Prefix{a}, []netip.Prefix{b})
	la := open(t, nsA, tcp.Config{Name: "a", Interface: ifA, Local: a.Addr(), Peer: b.Addr(), Port: 3780})
	if err := la.Send(message(1)); !errors.Is(err, tcp.ErrNotConnected) {
		t.Fatalf("send before the peer listens: %v, want ErrNotConnected", err)
	}
	lb := open(t, nsB, tcp.Config{Name: "b", Interface: ifB, Local: b.Addr(), Peer: a.Addr(), Port: 3780})
	expect(t, lb, 1)
}

func open(t *testing.T, ns *netnstest.NetNS, s tcp.Config) *tcp.Link {
	t.Helper()
	var l *tcp.Link
	if err := ns.Do(func() (err error) { l, err = tcp.Open(s); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func waitConnected(t *testing.T, l *tcp.Link, want bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.Connected() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: Connected() still %v after 3s", l.Name(), !want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func message(seq uint32) []byte {
	b := []byte{0x1a, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

func send(t *testing.T, l *tcp.Link, datagrams ...[]byte) {
	t.Helper()
	for _, d := range datagrams {
		if err := l.Send(d); err != nil {
			t.Fatal(err)
		}
	}
}

// expect reads from l until it has the messages with sequence numbers
// seqs, in order, and nothing else.
func expect(t *testing.T, l *tcp.Link, seqs ...uint32) {
	t.Helper()
	var want []byte
	for _, s := range seqs {
		want = append(want, message(s)...)
	}
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 1<<16)
		for len(all) < len(want) {
			n, err := l.Recv(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- all
	}()
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Errorf("%s received %x, want %x", l.Name(), b, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: messages %v not received within 3s", l.Name(), seqs)
	}
}
