// Package linktest runs two links of one datagram transport against each
// other in network namespaces, for the transports' privileged integration
// tests.
package linktest

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
)

// Side is one end of the veth pair the two links run over.
type Side struct {
	// Interface is the veth in this side's namespace.
	Interface string
	// Addr is this side's address on it, Peer the other side's; both are
	// IPv4 or both IPv6.
	Addr, Peer netip.Addr
}

// Exchange opens two links with link.Open, from settings for each side,
// in two namespaces joined by a veth pair, once over IPv4 and once over
// IPv6 (subtests "ipv4" and "ipv6"). It checks that five datagrams each
// way arrive whole and in order (so neither link hears its own), that both
// links count exactly those datagrams, and that MaxDatagram is the veth's
// MTU less link.DatagramOverhead. The caller imports the transport.
func Exchange(t *testing.T, settings func(Side) config.LinkSettings) {
	for _, tc := range []struct {
		name string
		a, b netip.Prefix
	}{
		{"ipv4", netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("198.51.100.2/24")},
		{"ipv6", netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.RequirePrivileged(t)
			nsA, nsB := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
			ifA, ifB := netnstest.Veth(t, nsA, nsB, []netip.Prefix{tc.a}, []netip.Prefix{tc.b})
			la := open(t, nsA, settings(Side{ifA, tc.a.Addr(), tc.b.Addr()}))
			lb := open(t, nsB, settings(Side{ifB, tc.b.Addr(), tc.a.Addr()}))
			for _, l := range []link.Link{la, lb} {
				if got, want := l.MaxDatagram(), 1500-link.DatagramOverhead; got != want {
					t.Errorf("%s: MaxDatagram() = %d, want %d", l.Interface(), got, want)
				}
			}
			exchange(t, la, lb, 1)
			exchange(t, lb, la, 100)
			want := link.Stats{BytesSent: 5 * 16, PacketsSent: 5, BytesReceived: 5 * 16, PacketsReceived: 5}
			for _, l := range []link.Link{la, lb} {
				if diff := cmp.Diff(want, l.Counters().Stats()); diff != "" {
					t.Errorf("%s: stats mismatch (-want +got):\n%s", l.Interface(), diff)
				}
			}
		})
	}
}

func open(t *testing.T, ns *netnstest.NetNS, s config.LinkSettings) link.Link {
	t.Helper()
	var l link.Link
	if err := ns.Do(func() (err error) { l, err = link.Open(s); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// message is a 16-byte control message with sequence number seq.
func message(seq uint32) []byte {
	b := []byte{0x1a, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], seq)
	return b
}

// exchange sends five messages from one link and checks the other
// receives them, in order.
func exchange(t *testing.T, from, to link.Link, seq uint32) {
	t.Helper()
	got := make(chan []byte, 5)
	go func() {
		buf := make([]byte, 1<<16)
		for range 5 {
			n, err := to.Recv(buf)
			if err != nil {
				return
			}
			got <- bytes.Clone(buf[:n])
		}
	}()
	for i := range uint32(5) {
		if err := from.Send(message(seq + i)); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(3 * time.Second)
	for i := range uint32(5) {
		select {
		case b := <-got:
			if want := message(seq + i); !bytes.Equal(b, want) {
				t.Errorf("%s: datagram %d = %x, want %x", to.Interface(), i, b, want)
			}
		case <-timeout:
			t.Fatalf("%s: datagram %d not received within 3s", to.Interface(), i)
		}
	}
}
