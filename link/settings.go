package link

import (
	"fmt"
	"net/netip"
)

// Settings are one dedicated link: a transport and the keywords of its
// section in conntrackd.conf. Open passes each transport the fields it
// uses (see mcast.Config, udp.Config and tcp.Config) and ignores the
// others.
type Settings struct {
	// Name names the link in errors, logs and status.
	Name      string
	Transport Transport
	// Default marks the link active when a Group starts (OpenGroup takes
	// the last link that has it, else the first).
	Default bool
	// Interface is the dedicated interface, "" for none.
	Interface string
	// Group is the multicast group and InterfaceAddress the local
	// address naming the interface to join it on (multicast only).
	Group, InterfaceAddress netip.Addr
	// Local is the address to bind (zero: any address of Peer's family)
	// and Peer the address to send to or connect to (UDP and TCP).
	Local, Peer netip.Addr
	Port        uint16
	// SendBuffer and ReceiveBuffer are socket buffer sizes in bytes; 0
	// keeps the system default.
	SendBuffer, ReceiveBuffer uint64
	// Checksum false sends IPv4 datagrams with a zero UDP checksum
	// (multicast and UDP).
	Checksum bool
	// ErrorQueueLength is how many datagrams a TCP link parks while
	// disconnected; 0 means tcp.DefaultErrorQueueLength.
	ErrorQueueLength int
}

// Transport is a link's transport.
type Transport uint8

// The transports, numbered as conntrackd.conf's sections are listed; the
// zero Transport is Multicast, conntrackd's usual choice.
const (
	Multicast Transport = iota
	UDP
	TCP
)

// String is the transport's name: "multicast", "udp" or "tcp".
func (t Transport) String() string {
	switch t {
	case Multicast:
		return "multicast"
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return fmt.Sprintf("transport(%d)", uint8(t))
}
