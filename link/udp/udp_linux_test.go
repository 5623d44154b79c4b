package udp_test

import (
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link/linktest"
	_ "github.com/ctsync/ctsync/link/udp" // registers the transport for link.Open
)

func TestIntegrationUDP(t *testing.T) {
	linktest.Exchange(t, func(s linktest.Side) config.LinkSettings {
		return config.LinkSettings{
			Name: "sync", Transport: config.TransportUDP, Interface: s.Interface,
			Local: s.Addr, Peer: s.Peer, Port: 3780,
			// Checksum off over IPv4 sends zero checksums (SO_NO_CHECK),
			// which the receiver must still accept.
			SendBuffer: 1 << 20, ReceiveBuffer: 1 << 20, Checksum: s.Addr.Is6(),
		}
	})
}
