// Package udp is the unicast UDP sync link, socket for socket as
// conntrackd's src/udp.c: a receive socket bound to the local address and
// the port, and an unbound send socket that sends to the peer on the same
// port. The receiver does not check who sent a datagram, as conntrackd.
package udp

import (
	"context"
	"fmt"
	"net"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link"
)

func init() {
	link.RegisterTransport(config.TransportUDP, func(s config.LinkSettings) (link.Link, error) { return Open(s) })
}

// Link is a UDP sync link.
type Link struct {
	*link.Datagram
}

// Open opens a UDP link in the calling thread's network namespace.
func Open(s config.LinkSettings) (*Link, error) {
	l, err := open(s)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", s.Name, err)
	}
	return l, nil
}

func open(s config.LinkSettings) (*Link, error) {
	u, err := link.ResolveUnicast(s, "udp")
	if err != nil {
		return nil, err
	}
	rc := net.ListenConfig{Control: link.SocketOptions{
		ReuseAddr:     true,
		ReceiveBuffer: s.ReceiveBuffer,
		Device:        s.Interface,
	}.Control}
	pc, err := rc.ListenPacket(context.Background(), u.Network, u.Local.String())
	if err != nil {
		return nil, fmt.Errorf("receive socket: %w", err)
	}
	d, err := link.OpenDatagram(s, u.Interface, pc.(*net.UDPConn), u.Peer, nil)
	if err != nil {
		return nil, err
	}
	return &Link{d}, nil
}
