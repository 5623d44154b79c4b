package link

import (
	"fmt"

	"github.com/ctsync/ctsync/link/mcast"
	"github.com/ctsync/ctsync/link/tcp"
	"github.com/ctsync/ctsync/link/udp"
)

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
