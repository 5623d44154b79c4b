package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// SocketOptions are the socket options conntrackd sets on link sockets
// (src/udp.c, src/mcast.c, src/tcp.c), applied before bind through
// Control, so that they hold for the socket's whole life.
type SocketOptions struct {
	ReuseAddr bool
	KeepAlive bool
	// SendBuffer and ReceiveBuffer use the FORCE variants, which ignore
	// the net.core.[rw]mem_max limits, and fall back to the plain ones
	// without CAP_NET_ADMIN. Zero keeps the system default.
	SendBuffer, ReceiveBuffer uint64
	// NoChecksum sends IPv4 UDP datagrams with a zero checksum
	// (conntrackd's "Checksum off"); Linux ignores it for IPv6.
	NoChecksum bool
	// Device binds the socket to the dedicated interface, so that a
	// link's traffic never leaves through another interface.
	Device string
	// NoMulticastAll clears IP_MULTICAST_ALL / IPV6_MULTICAST_ALL: a
	// socket only receives the groups it joined itself, not those every
	// other socket of the host joined on the same port.
	NoMulticastAll bool
}

// Control is a net.ListenConfig / net.Dialer Control function applying o.
func (o SocketOptions) Control(network, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) { err = o.Apply(int(fd), network) })
	if cerr != nil {
		return cerr
	}
	return err
}

// Apply sets o on the socket fd; network ends in "6" for IPv6 sockets.
func (o SocketOptions) Apply(fd int, network string) error {
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt %s: %w", name, err)
		}
		return nil
	}
	if o.ReuseAddr {
		if err := set(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"); err != nil {
			return err
		}
	}
	if o.KeepAlive {
		if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"); err != nil {
			return err
		}
	}
	if err := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, o.SendBuffer, "SO_SNDBUF"); err != nil {
		return err
	}
	if err := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, o.ReceiveBuffer, "SO_RCVBUF"); err != nil {
		return err
	}
	ipv6 := len(network) > 0 && network[len(network)-1] == '6'
	if o.NoChecksum && !ipv6 {
		if err := set(unix.SOL_SOCKET, unix.SO_NO_CHECK, 1, "SO_NO_CHECK"); err != nil {
			return err
		}
	}
	if o.NoMulticastAll {
		if ipv6 {
			if err := set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL"); err != nil {
				return err
			}
		} else if err := set(unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL"); err != nil {
			return err
		}
	}
	if o.Device != "" {
		if err := unix.BindToDevice(fd, o.Device); err != nil {
			return fmt.Errorf("setsockopt SO_BINDTODEVICE %s: %w", o.Device, err)
		}
	}
	return nil
}

func setBuffer(fd, force, plain int, size uint64, name string) error {
	if size == 0 {
		return nil
	}
	v := int(min(size, 1<<30))
	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, v)
	if errors.Is(err, unix.EPERM) {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, v)
	}
	if err != nil {
		return fmt.Errorf("setsockopt %s %d: %w", name, size, err)
	}
	return nil
}

// Interface looks up a link's dedicated interface. An empty name is no
// interface: nil and no error.
func Interface(name string) (*net.Interface, error) {
	if name == "" {
		return nil, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return ifi, nil
}

// Unicast is what the UDP and TCP transports resolve alike from a link's
// settings.
type Unicast struct {
	Interface *net.Interface // nil without an interface
	Network   string         // "udp4", "udp6", "tcp4" or "tcp6"
	// Local is the address and port to bind (the unspecified address
	// when none is configured), Peer where to send; link-local IPv6
	// addresses carry the interface as their zone, as conntrackd sets
	// the scope id from the interface.
	Local, Peer netip.AddrPort
}

// ResolveUnicast resolves a unicast link for protocol proto ("udp" or
// "tcp"): its dedicated interface iface ("" for none), the local address
// to bind (zero: the unspecified address of peer's family), the peer's
// address, and the port both ends use. Peer's family is the link's.
func ResolveUnicast(proto, iface string, local, peer netip.Addr, port uint16) (Unicast, error) {
	if !peer.IsValid() {
		return Unicast{}, errors.New("no peer address")
	}
	ifi, err := Interface(iface)
	if err != nil {
		return Unicast{}, err
	}
	u := Unicast{Interface: ifi, Network: proto + "4"}
	if peer.Is6() {
		u.Network = proto + "6"
		if !local.IsValid() {
			local = netip.IPv6Unspecified()
		}
	} else if !local.IsValid() {
		local = netip.IPv4Unspecified()
	}
	u.Local = netip.AddrPortFrom(scoped(local, iface), port)
	u.Peer = netip.AddrPortFrom(scoped(peer, iface), port)
	return u, nil
}

func scoped(a netip.Addr, iface string) netip.Addr {
	if iface != "" && a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		return a.WithZone(iface)
	}
	return a
}
