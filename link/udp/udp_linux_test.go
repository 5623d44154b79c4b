package udp_test

import (
	"testing"

	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/linktest"
)

func TestIntegrationUDP(t *testing.T) {
	linktest.Exchange(t, func(s linktest.Side) link.Settings {
		return link.Settings{
			Name: "sync", Transport: link.UDP, Interface: s.Interface,
			Local: s.Addr, Peer: s.Peer, Port: 3780,
			// Checksum off over IPv4 sends zero checksums (SO_NO_CHECK),
			// which the receiver must still accept.
			SendBuffer: 1 << 20, ReceiveBuffer: 1 << 20, Checksum: s.Addr.Is6(),
		}
	})
}
