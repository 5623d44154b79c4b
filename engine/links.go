package engine

import (
	"fmt"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link"
)

// transports maps each configured transport to link's.
var transports = map[config.Transport]link.Transport{
	config.TransportMulticast: link.Multicast,
	config.TransportUDP:       link.UDP,
	config.TransportTCP:       link.TCP,
}

// LinkSettings translates the configured links (config.Runtime.Links)
// into link's settings, in order, for link.OpenGroup.
func LinkSettings(links []config.LinkSettings) ([]link.Settings, error) {
	out := make([]link.Settings, len(links))
	for i, c := range links {
		s, err := linkSettings(c)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func linkSettings(c config.LinkSettings) (link.Settings, error) {
	t, ok := transports[c.Transport]
	if !ok {
		// Validate only produces the transports above; a new one
		// must be added there and to link.Open.
		return link.Settings{}, fmt.Errorf("link %s: transport %s is not supported", c.Name, c.Transport)
	}
	return link.Settings{
		Name:             c.Name,
		Transport:        t,
		Default:          c.Default,
		Interface:        c.Interface,
		Group:            c.Group,
		InterfaceAddress: c.InterfaceAddress,
		Local:            c.Local,
		Peer:             c.Peer,
		Port:             c.Port,
		SendBuffer:       c.SendBuffer,
		ReceiveBuffer:    c.ReceiveBuffer,
		Checksum:         c.Checksum,
		ErrorQueueLength: c.ErrorQueueLength,
	}, nil
}
