package mcast_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/mcast"
)

func TestIntegrationMulticast(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  netip.Prefix
		group netip.Addr
	}{
		{"ipv4", netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("198.51.100.2/24"), netip.MustParseAddr("225.0.0.50")},
		{"ipv6", netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64"), netip.MustParseAddr("ff02::3780")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.RequirePrivileged(t)
			nsA, nsB := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
			ifA, ifB := netnstest.Veth(t, nsA, nsB, []netip.Prefix{tc.a}, []netip.Prefix{tc.b})
			settings := func(iface string, local netip.Addr) config.LinkSettings {
				s := config.LinkSettings{
					Name: "sync", Transport: config.TransportMulticast, Interface: iface,
					Group: tc.group, Port: 3780, Checksum: true,
				}
				if local.Is4() {
					s.InterfaceAddress = local
				}
				return s
			}
			la := open(t, nsA, settings(ifA, tc.a.Addr()))
			lb := open(t, nsB, settings(ifB, tc.b.Addr()))
			exchange(t, la, lb, 1)
			exchange(t, lb, la, 100)
			// Loopback is off: a link never hears itself.
			if st := la.Counters().Stats(); st.PacketsReceived != 5 || st.PacketsSent != 5 {
				t.Errorf("link a stats = %+v, want 5 packets sent and 5 received", st)
			}
		})
	}
}

func open(t *testing.T, ns *netnstest.NetNS, s config.LinkSettings) link.Link {
	t.Helper()
	var l link.Link
	if err := ns.Do(func() (err error) { l, err = mcast.Open(s); return err }); err != nil {
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
				t.Errorf("datagram %d = %x, want %x", i, b, want)
			}
		case <-timeout:
			t.Fatalf("%s: datagram %d not received within 3s", to.Name(), i)
		}
	}
}
