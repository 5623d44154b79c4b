// Package udp is the unicast UDP sync link, socket for socket as
// conntrackd's src/udp.c: a receive socket bound to the local address and
// the port, and an unbound send socket that sends to the peer on the same
// port. The receiver does not check who sent a datagram, as conntrackd.
package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

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
	if !s.Peer.IsValid() {
		return nil, errors.New("no peer address")
	}
	ifi, err := link.Interface(s.Interface)
	if err != nil {
		return nil, err
	}
	network := "udp4"
	if s.Family() == config.FamilyInet6 {
		network = "udp6"
	}
	local := s.Local
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
		if network == "udp6" {
			local = netip.IPv6Unspecified()
		}
	}
	rc := net.ListenConfig{Control: link.SocketOptions{
		ReuseAddr:     true,
		ReceiveBuffer: s.ReceiveBuffer,
		Device:        s.Interface,
	}.Control}
	bind := netip.AddrPortFrom(scoped(local, s.Interface), s.Port)
	pc, err := rc.ListenPacket(context.Background(), network, bind.String())
	if err != nil {
		return nil, fmt.Errorf("receive socket: %w", err)
	}
	peer := netip.AddrPortFrom(scoped(s.Peer, s.Interface), s.Port)
	d, err := link.OpenDatagram(s, ifi, pc.(*net.UDPConn), peer, nil)
	if err != nil {
		return nil, err
	}
	return &Link{d}, nil
}

// scoped gives a link-local IPv6 address the interface as its zone, as
// conntrackd sets the scope id from Interface.
func scoped(a netip.Addr, iface string) netip.Addr {
	if iface != "" && a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		return a.WithZone(iface)
	}
	return a
}
