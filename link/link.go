// Package link carries sync datagrams between peers over dedicated links
// (multicast, UDP or TCP, in the subpackages) and keeps up to four of them
// as a redundant Group with conntrackd's fail-over rules.
//
// A link moves opaque datagrams: one or more whole wire messages back to
// back. Decoding and reliability live in link/wire and link/ftfw.
package link

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/ctsync/ctsync/config"
)

// Link is one dedicated sync link.
//
// Send and Recv may be called concurrently with each other, but each by one
// goroutine at a time. Recv blocks until data arrives or the link is
// closed; after Close it returns an error wrapping net.ErrClosed.
type Link interface {
	// Name is the link's configured name.
	Name() string
	// Interface is the dedicated interface's name ("" if none) and Index
	// its index (0 if none) as resolved when the link was opened.
	Interface() string
	Index() int
	// MTU is the dedicated interface's MTU, read once when the link was
	// opened as conntrackd does (1500 without an interface).
	MTU() int
	// MaxDatagram is the largest datagram Send should be given so that
	// it is not fragmented or split: conntrackd's MTU - 28 for datagram
	// transports (MTU - 48 over IPv6, see DatagramOverhead6) and MTU - 40
	// for TCP.
	MaxDatagram() int
	// Send transmits one datagram of whole messages.
	Send(datagram []byte) error
	// Recv reads into buf: one datagram for datagram transports, and for
	// a stream one or more whole messages, never a partial one.
	Recv(buf []byte) (int, error)
	// Counters are the link's traffic counters; the engine bumps Lost and
	// Malformed on them.
	Counters() *Counters
	Close() error
}

// Stats is a snapshot of a link's counters, the fields of conntrackd's
// "-s link" and "-s network" output.
type Stats struct {
	BytesSent, PacketsSent, ErrorsSent             uint64
	BytesReceived, PacketsReceived, ErrorsReceived uint64
	// Lost counts messages known to be lost (sequence gaps, or dropped
	// from a full TCP error queue); Malformed counts received data that
	// could not be decoded.
	Lost, Malformed uint64
}

// Counters are a link's live counters, safe for concurrent use.
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

// Opener opens a link of one transport from its settings.
type Opener func(config.LinkSettings) (Link, error)

var (
	openersMu sync.RWMutex
	openers   = map[config.Transport]Opener{}
)

// RegisterTransport makes Open use open for links of transport t. The
// transport packages register themselves from init, so the engine only
// needs to import them.
func RegisterTransport(t config.Transport, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	openers[t] = open
}

// ErrNoTransport is returned by Open for a transport whose package was not
// imported.
var ErrNoTransport = errors.New("transport not available")

// Open opens one link from its settings. Sockets are created in the
// calling thread's network namespace.
func Open(s config.LinkSettings) (Link, error) {
	openersMu.RLock()
	open := openers[s.Transport]
	openersMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("link %s: %s: %w", s.Name, s.Transport, ErrNoTransport)
	}
	l, err := open(s)
	if err != nil {
		return nil, err
	}
	if i, ok := l.(interface{ setTransport(config.Transport) }); ok {
		i.setTransport(s.Transport)
	}
	return l, nil
}

// Info holds what every transport reports the same way: name, interface,
// MTU and counters. Transports embed it and call Init.
type Info struct {
	transport      config.Transport
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

// Name implements Link.
func (i *Info) Name() string { return i.name }

// Transport is the link's transport, as registered with RegisterTransport.
func (i *Info) Transport() config.Transport { return i.transport }

// setTransport is promoted into every transport that embeds Info, so that
// Open can record the transport without each package repeating it.
func (i *Info) setTransport(t config.Transport) { i.transport = t }

// Interface implements Link.
func (i *Info) Interface() string { return i.ifname }

// Index implements Link.
func (i *Info) Index() int { return i.ifindex }

// MTU implements Link.
func (i *Info) MTU() int { return i.ifmtu }

// MaxDatagram implements Link.
func (i *Info) MaxDatagram() int { return i.ifmtu - i.overhead }

// Counters implements Link.
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
