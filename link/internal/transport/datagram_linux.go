package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Datagram is the socket pair of conntrackd's datagram channels (src/udp.c,
// src/mcast.c): a receive socket the transport opened its own way (bound to
// its address, joined to its group) and an unbound send socket that sends
// every datagram to one destination. It has the methods of link.Link; the
// UDP and multicast transports embed it and add only how they resolve
// addresses and set up their sockets.
type Datagram struct {
	Info
	recv, send *net.UDPConn
	dst        netip.AddrPort
}

// OpenDatagram opens the send socket of link name with options opts (the
// link's send buffer, checksum and device), in the family of dst, and
// pairs it with recv. setup, if not nil, sets the transport's own options
// on the send socket. ifi is the dedicated interface (nil for none). On
// error OpenDatagram closes recv and what it opened.
func OpenDatagram(name string, ifi *net.Interface, opts SocketOptions, recv *net.UDPConn, dst netip.AddrPort, setup func(send *net.UDPConn) error) (*Datagram, error) {
	d := &Datagram{recv: recv, dst: dst}
	network, unspec, overhead := "udp4", "0.0.0.0:0", DatagramOverhead
	if !dst.Addr().Is4() {
		network, unspec, overhead = "udp6", "[::]:0", DatagramOverhead6
	}
	d.Init(name, ifi, overhead)
	lc := net.ListenConfig{Control: opts.Control}
	pc, err := lc.ListenPacket(context.Background(), network, unspec)
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("send socket: %w", err)
	}
	d.send = pc.(*net.UDPConn)
	if setup != nil {
		if err := setup(d.send); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Send transmits one datagram to the destination.
func (d *Datagram) Send(b []byte) error {
	n, err := d.send.WriteToUDPAddrPort(b, d.dst)
	if err != nil {
		d.Counters().SendError()
		return fmt.Errorf("link %s: send: %w", d.Name(), err)
	}
	d.Counters().Sent(n)
	return nil
}

// Recv reads one datagram into buf.
func (d *Datagram) Recv(buf []byte) (int, error) {
	for {
		n, _, err := d.recv.ReadFromUDPAddrPort(buf)
		if err == nil {
			d.Counters().Received(n)
			return n, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return 0, fmt.Errorf("link %s: receive: %w", d.Name(), err)
		}
		// Transient errors (ICMP errors queued on the socket) are
		// counted and the read retried, as conntrackd's loop does.
		d.Counters().RecvError()
	}
}

// Close closes both sockets.
func (d *Datagram) Close() error {
	return errors.Join(d.recv.Close(), d.send.Close())
}
