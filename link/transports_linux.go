package link

import (
	"fmt"
	"net/netip"

	"github.com/ctsync/ctsync/link/mcast"
	"github.com/ctsync/ctsync/link/tcp"
	"github.com/ctsync/ctsync/link/udp"
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

// Open opens one link from its settings; it is the one place where a
// transport is chosen. Sockets are created in the calling thread's network
// namespace.
func Open(s Settings) (Link, error) {
	// Each case returns its own nil on error: a nil *udp.Link in a Link
	// would not be a nil Link.
	switch s.Transport {
	case Multicast:
		l, err := mcast.Open(s.multicast())
		if err != nil {
			return nil, err
		}
		return l, nil
	case UDP:
		l, err := udp.Open(s.udp())
		if err != nil {
			return nil, err
		}
		return l, nil
	case TCP:
		l, err := tcp.Open(s.tcp())
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("link %s: unknown %s", s.Name, s.Transport)
}

func (s Settings) multicast() mcast.Config {
	return mcast.Config{
		Name: s.Name, Interface: s.Interface,
		Group: s.Group, InterfaceAddress: s.InterfaceAddress, Port: s.Port,
		SendBuffer: s.SendBuffer, ReceiveBuffer: s.ReceiveBuffer, Checksum: s.Checksum,
	}
}

func (s Settings) udp() udp.Config {
	return udp.Config{
		Name: s.Name, Interface: s.Interface,
		Local: s.Local, Peer: s.Peer, Port: s.Port,
		SendBuffer: s.SendBuffer, ReceiveBuffer: s.ReceiveBuffer, Checksum: s.Checksum,
	}
}

func (s Settings) tcp() tcp.Config {
	return tcp.Config{
		Name: s.Name, Interface: s.Interface,
		Local: s.Local, Peer: s.Peer, Port: s.Port,
		SendBuffer: s.SendBuffer, ReceiveBuffer: s.ReceiveBuffer,
		ErrorQueueLength: s.ErrorQueueLength,
	}
}

// statusOf fills in what a link reports of itself: the transport and,
// for TCP, the state of both connections. Other implementations of Link
// (tests' fakes) report the zero Transport.
func statusOf(l Link) LinkStatus {
	st := LinkStatus{Name: l.Name(), Interface: l.Interface(), Stats: l.Counters().Stats()}
	switch l := l.(type) {
	case *mcast.Link:
		st.Transport = Multicast
	case *udp.Link:
		st.Transport = UDP
	case *tcp.Link:
		st.Transport = TCP
		server, client := l.Accepted(), l.Connected()
		st.Server, st.Client = &server, &client
	}
	return st
}
