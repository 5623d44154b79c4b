package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// listen opens a receive socket on an ephemeral loopback port.
func listen(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func localAddrPort(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// The send socket carries conntrackd's options for both datagram
// transports: the buffer forced past net.core.wmem_max, zero checksums when
// Checksum is off (Linux has no such option for IPv6, so it stays clear)
// and the dedicated device.
func TestIntegrationDatagramSendSocket(t *testing.T) {
	netnstest.RequirePrivileged(t)
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err != nil {
		t.Fatal(err)
	}
	wmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		addr        string
		checksum    bool
		wantNoCheck int
	}{
		{"ipv4 checksum off", "127.0.0.1:0", false, 1},
		{"ipv4 checksum on", "127.0.0.1:0", true, 0},
		{"ipv6 checksum off", "[::1]:0", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := listen(t, tc.addr)
			opts := SocketOptions{Device: "lo", SendBuffer: uint64(2 * wmemMax), NoChecksum: !tc.checksum}
			d, err := OpenDatagram("sync", nil, opts, recv, localAddrPort(recv), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			raw, err := d.send.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var sndbuf, noCheck int
			var device string
			var errs [3]error
			raw.Control(func(fd uintptr) {
				sndbuf, errs[0] = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
				noCheck, errs[1] = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK)
				device, errs[2] = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
			})
			if err := errors.Join(errs[:]...); err != nil {
				t.Fatal(err)
			}
			// The kernel doubles the size it is given for its bookkeeping.
			if want := 4 * wmemMax; sndbuf != want {
				t.Errorf("SO_SNDBUF = %d, want %d (forced past wmem_max %d)", sndbuf, want, wmemMax)
			}
			if noCheck != tc.wantNoCheck {
				t.Errorf("SO_NO_CHECK = %d, want %d", noCheck, tc.wantNoCheck)
			}
			if device != "lo" {
				t.Errorf("SO_BINDTODEVICE = %q, want %q", device, "lo")
			}
		})
	}
}

// Traffic and failures show in the counters and in errors that name the
// link; after Close, Recv and Send fail with net.ErrClosed.
func TestDatagramSendRecvClose(t *testing.T) {
	recv := listen(t, "127.0.0.1:0")
	d, err := OpenDatagram("sync", nil, SocketOptions{}, recv, localAddrPort(recv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := d.Recv(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Recv() = %q, %v, want %q", buf[:n], err, "hello")
	}
	// Larger than any UDP datagram: the kernel refuses it.
	err = d.Send(make([]byte, 1<<16))
	if !errors.Is(err, unix.EMSGSIZE) || !strings.HasPrefix(err.Error(), "link sync: send: ") {
		t.Errorf("Send(64 KiB) = %v, want EMSGSIZE prefixed with %q", err, "link sync: send: ")
	}
	want := Stats{BytesSent: 5, PacketsSent: 1, ErrorsSent: 1, BytesReceived: 5, PacketsReceived: 1}
	if diff := cmp.Diff(want, d.Counters().Stats()); diff != "" {
		t.Errorf("stats mismatch (-want +got):\n%s", diff)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Recv(buf); !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "link sync: receive: ") {
		t.Errorf("Recv after Close = %v, want net.ErrClosed prefixed with %q", err, "link sync: receive: ")
	}
	if err := d.Send([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close = %v, want net.ErrClosed", err)
	}
}

// A failed open leaves no socket behind: the receive socket the transport
// handed over is closed too.
func TestOpenDatagramFailureClosesRecv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  SocketOptions
		setup func(*net.UDPConn) error
	}{
		{"send socket", SocketOptions{Device: "ctdg-missing0"}, nil},
		{"setup", SocketOptions{}, func(*net.UDPConn) error { return errors.New("setup failed") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := listen(t, "127.0.0.1:0")
			if _, err := OpenDatagram("sync", nil, tc.opts, recv, localAddrPort(recv), tc.setup); err == nil {
				t.Fatal("OpenDatagram succeeded, want an error")
			}
			recv.SetReadDeadline(time.Now().Add(time.Second)) // fails if closed, as wanted
			if _, _, err := recv.ReadFromUDPAddrPort(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("receive socket after failed open: read = %v, want net.ErrClosed", err)
			}
		})
	}
}

// The raw send's socket address is the kernel's struct sockaddr_in or
// sockaddr_in6 for the destination, port in network order; a zoned
// address, which needs the net package's resolution, gets none.
func TestSockaddr(t *testing.T) {
	for _, c := range []struct {
		dst  string
		want []byte
	}{
		{"198.51.100.7:3780", append(binary.NativeEndian.AppendUint16(nil, unix.AF_INET), 0x0e, 0xc4, 198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"[2001:db8::1]:3780", append(append(binary.NativeEndian.AppendUint16(nil, unix.AF_INET6), 0x0e, 0xc4, 0, 0, 0, 0),
			append(netip.MustParseAddr("2001:db8::1").AsSlice(), 0, 0, 0, 0)...)},
		{"[fe80::1%lo]:3780", nil},
	} {
		if got := sockaddr(netip.MustParseAddrPort(c.dst)); !bytes.Equal(got, c.want) {
			t.Errorf("sockaddr(%s) = %x, want %x", c.dst, got, c.want)
		}
	}
}
