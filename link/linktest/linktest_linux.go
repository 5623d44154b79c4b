// Package linktest runs two links of one datagram transport against each
// other in network namespaces, for the transports' privileged integration
// tests.
package linktest

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
// links count exactly those datagrams, and that a datagram of MaxDatagram
// bytes crosses the veth unfragmented.
func Exchange(t *testing.T, settings func(Side) link.Settings) {
	for _, tc := range []struct {
		name string
		a, b netip.Prefix
		// fragments is the counter of fragments made in /proc/net/snmp*.
		snmp, fragments string
	}{
		{"ipv4", netip.MustParsePrefix("198.51.100.1/24"), netip.MustParsePrefix("198.51.100.2/24"), "snmp", "Ip:FragCreates"},
		{"ipv6", netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64"), "snmp6", "Ip6FragCreates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.RequirePrivileged(t)
			nsA, nsB := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
			ifA, ifB := netnstest.Veth(t, nsA, nsB, []netip.Prefix{tc.a}, []netip.Prefix{tc.b})
			la := open(t, nsA, settings(Side{ifA, tc.a.Addr(), tc.b.Addr()}))
			lb := open(t, nsB, settings(Side{ifB, tc.b.Addr(), tc.a.Addr()}))
			exchange(t, la, lb, 1)
			exchange(t, lb, la, 100)
			want := link.Stats{BytesSent: 5 * 16, PacketsSent: 5, BytesReceived: 5 * 16, PacketsReceived: 5}
			// A full datagram must not be fragmented: fragments are
			// dropped by firewalls that do not reassemble, and one lost
			// fragment loses every message in the datagram.
			frags := fragCreates(t, nsA, tc.snmp, tc.fragments)
			full := make([]byte, la.MaxDatagram())
			copy(full, message(200))
			sendFull(t, la, lb, full)
			if got := fragCreates(t, nsA, tc.snmp, tc.fragments); got != frags {
				t.Errorf("a datagram of MaxDatagram() = %d bytes was sent as %d fragments", len(full), got-frags)
			}
			want.BytesSent += uint64(len(full))
			want.PacketsSent++
			wantB := want
			wantB.BytesSent, wantB.PacketsSent = 5*16, 5
			wantB.BytesReceived += uint64(len(full))
			wantB.PacketsReceived++
			want.BytesReceived, want.PacketsReceived = 5*16, 5
			for l, want := range map[link.Link]link.Stats{la: want, lb: wantB} {
				if diff := cmp.Diff(want, l.Counters().Stats()); diff != "" {
					t.Errorf("%s: stats mismatch (-want +got):\n%s", l.Interface(), diff)
				}
			}
		})
	}
}

func open(t *testing.T, ns *netnstest.NetNS, s link.Settings) link.Link {
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

// sendFull sends b from one link and checks the other receives it whole.
func sendFull(t *testing.T, from, to link.Link, b []byte) {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 1<<16)
		if n, err := to.Recv(buf); err == nil {
			got <- bytes.Clone(buf[:n])
		}
	}()
	if err := from.Send(b); err != nil {
		t.Fatalf("send %d bytes: %v", len(b), err)
	}
	select {
	case r := <-got:
		if !bytes.Equal(r, b) {
			t.Errorf("%s: full datagram arrived as %d bytes, want %d", to.Interface(), len(r), len(b))
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: full datagram of %d bytes not received within 3s", to.Interface(), len(b))
	}
}

// fragCreates reads the count of fragments made in ns from
// /proc/net/snmp ("Ip:FragCreates": a header line and a value line) or
// /proc/net/snmp6 ("Ip6FragCreates value").
func fragCreates(t *testing.T, ns *netnstest.NetNS, file, counter string) int {
	t.Helper()
	out := ns.Exec(t, "cat", "/proc/net/"+file)
	lines := strings.Split(out, "\n")
	if file == "snmp6" {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 2 && f[0] == counter {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	} else {
		proto, name, _ := strings.Cut(counter, ":")
		for i := 0; i+1 < len(lines); i++ {
			h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(h) == len(v) && len(h) > 0 && h[0] == proto+":" && v[0] == proto+":" {
				for j := range h {
					if h[j] == name {
						n, _ := strconv.Atoi(v[j])
						return n
					}
				}
			}
		}
	}
	t.Fatalf("no %s in /proc/net/%s:\n%s", counter, file, out)
	return 0
}
