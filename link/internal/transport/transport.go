// Package transport is what the link transports (link/udp, link/mcast,
// link/tcp) share, as conntrackd's src/channel.c is what its channels
// share: the Info every link embeds (name, interface, MTU, counters), the
// datagram socket pair, the socket options and unicast address
// resolution. It imports nothing of link, so that link can import the
// transports and choose among them in one place.
package transport

import (
	"net"
	"sync/atomic"
)

// Stats is a snapshot of a link's counters, the fields of conntrackd's
// "-s link" and "-s network" output. link exports it as link.Stats.
type Stats struct {
	BytesSent, PacketsSent, ErrorsSent             uint64
	BytesReceived, PacketsReceived, ErrorsReceived uint64
	// Lost counts messages known to be lost (sequence gaps, or dropped
	// from a full TCP error queue); Malformed counts received data that
	// could not be decoded.
	Lost, Malformed uint64
}

// Counters are a link's live counters, safe for concurrent use. link
// exports them as link.Counters: the transports count traffic and errors,
// the engine and link.Group bump Lost and Malformed.
type Counters struct {
	bytesSent, packetsSent, errorsSent             atomic.Uint64
	bytesReceived, packetsReceived, errorsReceived atomic.Uint64
	lost, malformed                                atomic.Uint64
}

// Sent counts one datagram of n bytes sent.
func (c *Counters) Sent(n int) {
	c.bytesSent.Add(uint64(n))
	c.packetsSent.Add(1)
}

// SendError counts one failed send.
func (c *Counters) SendError() { c.errorsSent.Add(1) }

// Received counts one datagram (or stream read) of n bytes received.
func (c *Counters) Received(n int) {
	c.bytesReceived.Add(uint64(n))
	c.packetsReceived.Add(1)
}

// RecvError counts one failed receive.
func (c *Counters) RecvError() { c.errorsReceived.Add(1) }

// AddLost counts n lost messages.
func (c *Counters) AddLost(n uint64) { c.lost.Add(n) }

// AddMalformed counts n malformed messages or datagrams.
func (c *Counters) AddMalformed(n uint64) { c.malformed.Add(n) }

// Stats returns a snapshot of the counters.
func (c *Counters) Stats() Stats {
	return Stats{
		BytesSent:       c.bytesSent.Load(),
		PacketsSent:     c.packetsSent.Load(),
		ErrorsSent:      c.errorsSent.Load(),
		BytesReceived:   c.bytesReceived.Load(),
		PacketsReceived: c.packetsReceived.Load(),
		ErrorsReceived:  c.errorsReceived.Load(),
		Lost:            c.lost.Load(),
		Malformed:       c.malformed.Load(),
	}
}

// Info holds what every transport reports the same way: name, interface,
// MTU and counters, the methods of link.Link other than Send, Recv and
// Close. Transports embed it and call Init.
type Info struct {
	name, ifname   string
	ifindex, ifmtu int
	overhead       int
	counters       Counters
}

// Init sets the link name, its interface (nil for none) and the per-datagram
// overhead subtracted from the MTU for MaxDatagram.
func (i *Info) Init(name string, ifi *net.Interface, overhead int) {
	i.name = name
	i.ifmtu = 1500
	i.overhead = overhead
	if ifi != nil {
		i.ifname, i.ifindex = ifi.Name, ifi.Index
		if ifi.MTU > 0 {
			i.ifmtu = ifi.MTU
		}
	}
}

// Name is the link's configured name.
func (i *Info) Name() string { return i.name }

// Interface is the dedicated interface's name, "" if none.
func (i *Info) Interface() string { return i.ifname }

// Index is the dedicated interface's index, 0 if none.
func (i *Info) Index() int { return i.ifindex }

// MTU is the dedicated interface's MTU when the link was opened, 1500
// without an interface.
func (i *Info) MTU() int { return i.ifmtu }

// MaxDatagram is the MTU less the transport's overhead.
func (i *Info) MaxDatagram() int { return i.ifmtu - i.overhead }

// Counters are the link's traffic counters.
func (i *Info) Counters() *Counters { return &i.counters }

// Overheads subtracted from the MTU for a link's datagram size: an IP and
// UDP header, or an IPv4 and TCP header, as conntrackd computes them
// (src/channel_*.c). conntrackd uses the IPv4 figure for IPv6 too, so its
// full datagrams leave as IPv6 fragments (seen in link/wire's udp6
// capture); datagram links over IPv6 use DatagramOverhead6 instead, which
// a legacy receiver, taking datagrams of any size, does not notice. TCP
// segments the stream itself, so StreamOverhead only bounds a batch.
const (
	DatagramOverhead  = 28
	DatagramOverhead6 = 48
	StreamOverhead    = 40
)
