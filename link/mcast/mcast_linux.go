// Package mcast is the multicast sync link, as conntrackd's src/mcast.c:
// a receive socket that joins the group on the dedicated interface and a
// send socket that sends to the group with loopback off and TTL (hop
// limit) 1.
//
// Unlike conntrackd up to 1.4.8 the receive socket is bound to the group
// address rather than the wildcard (as 1.4.9 does), and IP_MULTICAST_ALL
// is off, so it neither takes unicast datagrams to the port nor traffic of
// groups other sockets joined.
package mcast

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/link/internal/transport"
)

// Config is what a multicast link is opened from: the keywords of
// conntrackd's Multicast section.
type Config struct {
	// Name names the link in errors and status.
	Name string
	// Interface is the dedicated interface ("" for none; an IPv6 group
	// needs one): both sockets are bound to it and the group is joined
	// on it.
	Interface string
	// Group is the multicast group both ends send to and join, on Port;
	// its family is the link's.
	Group netip.Addr
	// InterfaceAddress is the local IPv4 address naming the interface
	// to join on when Interface is "" (zero or unspecified: any).
	InterfaceAddress netip.Addr
	Port             uint16
	// SendBuffer and ReceiveBuffer are the socket buffer sizes in bytes;
	// 0 keeps the system default.
	SendBuffer, ReceiveBuffer uint64
	// Checksum false sends IPv4 datagrams with a zero UDP checksum
	// (conntrackd's "Checksum off"); IPv6 always has one.
	Checksum bool
}

// Link is a multicast sync link; it implements link.Link.
type Link struct {
	*transport.Datagram
}

// Open opens a multicast link in the calling thread's network namespace.
func Open(c Config) (*Link, error) {
	l, err := open(c)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", c.Name, err)
	}
	return l, nil
}

func open(s Config) (*Link, error) {
	if !s.Group.IsMulticast() {
		return nil, fmt.Errorf("group %s is not a multicast address", s.Group)
	}
	ifi, err := transport.Interface(s.Interface)
	if err != nil {
		return nil, err
	}
	v6 := s.Group.Is6()
	if ifi == nil && !v6 && s.InterfaceAddress.IsValid() && !s.InterfaceAddress.IsUnspecified() {
		if ifi, err = interfaceByAddr(s.InterfaceAddress); err != nil {
			return nil, err
		}
	}
	if v6 && ifi == nil {
		return nil, errors.New("an IPv6 group needs an interface")
	}
	network, group, ifindex := "udp4", s.Group, 0
	if v6 {
		network, group, ifindex = "udp6", group.WithZone(ifi.Name), ifi.Index
	}
	dst := netip.AddrPortFrom(group, s.Port)
	recv, err := listenGroup(network, dst, ifindex, transport.SocketOptions{
		ReuseAddr:      true,
		ReceiveBuffer:  s.ReceiveBuffer,
		NoMulticastAll: true,
		Device:         s.Interface,
	})
	if err != nil {
		return nil, fmt.Errorf("receive socket: %w", err)
	}
	gaddr := &net.UDPAddr{IP: s.Group.AsSlice()}
	if v6 {
		err = ipv6.NewPacketConn(recv).JoinGroup(ifi, gaddr)
	} else {
		err = ipv4.NewPacketConn(recv).JoinGroup(ifi, gaddr)
	}
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("join %s: %w", s.Group, err)
	}
	sendOpts := transport.SocketOptions{SendBuffer: s.SendBuffer, NoChecksum: !s.Checksum, Device: s.Interface}
	d, err := transport.OpenDatagram(s.Name, ifi, sendOpts, recv, dst, func(send *net.UDPConn) error {
		return setSendOptions(send, v6, ifi)
	})
	if err != nil {
		return nil, err
	}
	return &Link{d}, nil
}

// listenGroup opens the receive socket bound to the group address itself.
// The net package cannot do it: given a multicast address, it binds the
// wildcard address instead.
func listenGroup(network string, group netip.AddrPort, ifindex int, opts transport.SocketOptions) (*net.UDPConn, error) {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(group.Port()), Addr: group.Addr().As16(), ZoneId: uint32(ifindex)}
	if group.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "multicast "+group.String())
	defer f.Close()
	if err := opts.Apply(fd, network); err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", group, err)
	}
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// setSendOptions sets loopback off, the outgoing interface and TTL 1: the
// kernel default TTL for multicast is already 1, and conntrackd relies on
// that; setting it keeps a changed default from routing sync traffic.
func setSendOptions(c *net.UDPConn, v6 bool, ifi *net.Interface) error {
	if v6 {
		p := ipv6.NewPacketConn(c)
		if err := p.SetMulticastLoopback(false); err != nil {
			return fmt.Errorf("IPV6_MULTICAST_LOOP: %w", err)
		}
		if err := p.SetMulticastHopLimit(1); err != nil {
			return fmt.Errorf("IPV6_MULTICAST_HOPS: %w", err)
		}
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("IPV6_MULTICAST_IF: %w", err)
		}
		return nil
	}
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
	}
	if err := p.SetMulticastTTL(1); err != nil {
		return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
	}
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("IP_MULTICAST_IF: %w", err)
		}
	}
	return nil
}

// interfaceByAddr finds the interface that has a, for configurations that
// name the multicast interface only by its address.
func interfaceByAddr(a netip.Addr) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
					return &ifs[i], nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no interface has address %s", a)
}
