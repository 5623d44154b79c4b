// Package link carries sync datagrams between peers over dedicated links
// and keeps up to four of them as a redundant Group with conntrackd's
// fail-over rules. Open chooses the transport (link/mcast, link/udp or
// link/tcp) from a link's Settings.
//
// A link moves opaque datagrams: one or more whole wire messages back to
// back. Decoding and reliability live in link/wire and link/ftfw.
package link

import (
	"github.com/ctsync/ctsync/link/internal/transport"
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
	// transports (MTU - 48 over IPv6, where conntrackd's 28 lets full
	// datagrams leave as fragments) and MTU - 40 for TCP.
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
// "-s link" and "-s network" output: bytes, packets and errors sent and
// received, Lost (messages known to be lost: sequence gaps, or dropped
// from a full TCP error queue) and Malformed (received data that could not
// be decoded).
type Stats = transport.Stats

// Counters are a link's live counters, safe for concurrent use: Sent,
// SendError, Received, RecvError, AddLost and AddMalformed count, Stats
// takes a snapshot. The transports count traffic and errors; the engine
// and Group bump Lost and Malformed. Counters and Stats are the
// transports' own types, named here as aliases: the transports do not
// import link (link imports them, to choose one in Open), and their links
// still satisfy Link.
type Counters = transport.Counters
