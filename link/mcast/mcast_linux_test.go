package mcast_test

import (
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/linktest"
)

// Both sides send to and join one group; loopback is off, which Exchange
// checks: a link that heard its own datagrams would receive them out of
// turn.
func TestIntegrationMulticast(t *testing.T) {
	linktest.Exchange(t, func(s linktest.Side) link.Settings {
		ls := link.Settings{
			Name: "sync", Transport: link.Multicast, Interface: s.Interface,
			Group: netip.MustParseAddr("ff02::3780"), Port: 3780, Checksum: true,
		}
		if s.Addr.Is4() {
			ls.Group, ls.InterfaceAddress = netip.MustParseAddr("225.0.0.50"), s.Addr
		}
		return ls
	})
}
