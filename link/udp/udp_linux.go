// Package udp is the unicast UDP sync link, socket for socket as
// conntrackd's src/udp.c: a receive socket bound to the local address and
// the port, and an unbound send socket that sends to the peer on the same
// port. The receiver does not check who sent a datagram, as conntrackd.
package udp

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/ctsync/ctsync/link/internal/transport"
)

// Config is what a UDP link is opened from: the keywords of conntrackd's
// UDP section.
type Config struct {
	// Name names the link in errors and status.
	Name string
	// Interface is the dedicated interface ("" for none): both sockets
	// are bound to it, and it scopes link-local IPv6 addresses.
	Interface string
	// Local is the address the receive socket binds (zero: the
	// unspecified address of Peer's family); Peer is where datagrams go,
	// and its family is the link's. Both ends use Port.
	Local, Peer netip.Addr
	Port        uint16
	// SendBuffer and ReceiveBuffer are the socket buffer sizes in bytes;
	// 0 keeps the system default.
	SendBuffer, ReceiveBuffer uint64
	// Checksum false sends IPv4 datagrams with a zero UDP checksum
	// (conntrackd's "Checksum off"); IPv6 always has one.
	Checksum bool
}

// Link is a UDP sync link; it implements link.Link.
type Link struct {
	*transport.Datagram
}

// Open opens a UDP link in the calling thread's network namespace.
func Open(c Config) (*Link, error) {
	l, err := open(c)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", c.Name, err)
	}
	return l, nil
}

func open(c Config) (*Link, error) {
	u, err := transport.ResolveUnicast("udp", c.Interface, c.Local, c.Peer, c.Port)
	if err != nil {
		return nil, err
	}
	rc := net.ListenConfig{Control: transport.SocketOptions{
		ReuseAddr:     true,
		ReceiveBuffer: c.ReceiveBuffer,
		Device:        c.Interface,
	}.Control}
	pc, err := rc.ListenPacket(context.Background(), u.Network, u.Local.String())
	if err != nil {
		return nil, fmt.Errorf("receive socket: %w", err)
	}
	send := transport.SocketOptions{SendBuffer: c.SendBuffer, NoChecksum: !c.Checksum, Device: c.Interface}
	d, err := transport.OpenDatagram(c.Name, u.Interface, send, pc.(*net.UDPConn), u.Peer, nil)
	if err != nil {
		return nil, err
	}
	return &Link{d}, nil
}
