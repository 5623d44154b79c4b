package link

import (
	"fmt"
	"io"
)

// LinkStatus is what the stats command shows of one link.
type LinkStatus struct {
	Name, Interface string
	Transport       Transport
	State           string // RUNNING, NO-CARRIER or DOWN
	Active          bool   // ACTIVE, else BACKUP
	// Server and Client are set for TCP links: whether a peer's
	// connection is accepted and whether ours is established.
	Server, Client *bool
	Stats          Stats
}

// trafficName is the title conntrackd gives a transport's counters.
func trafficName(t Transport) string {
	switch t {
	case UDP:
		return "UDP"
	case TCP:
		return "TCP"
	}
	return "multicast"
}

// WriteLinks writes links as conntrackd's "-s link" does, so scripts
// that read it keep working:
//
//	UDP traffic device=eth2 status=RUNNING role=ACTIVE:
//	                  16 Bytes sent                    0 Bytes recv
//	                   2 Pckts sent                    0 Pckts recv
//	                   0 Error send                    0 Error recv
func WriteLinks(w io.Writer, links []LinkStatus) error {
	for _, l := range links {
		role := "BACKUP"
		if l.Active {
			role = "ACTIVE"
		}
		if _, err := fmt.Fprintf(w, "%s traffic device=%s status=%s role=%s:\n", trafficName(l.Transport), l.Interface, l.State, role); err != nil {
			return err
		}
		if err := writeCounters(w, l.Stats); err != nil {
			return err
		}
	}
	return nil
}

// WriteActive writes the active link's block of conntrackd's "-s" and
// "-s network" output; TCP adds the state of both connections.
func WriteActive(w io.Writer, l LinkStatus) error {
	conn := ""
	if l.Transport == TCP {
		conn = fmt.Sprintf(" server=%s client=%s", connected(l.Server), connected(l.Client))
	}
	if _, err := fmt.Fprintf(w, "%s traffic (active device=%s)%s:\n", trafficName(l.Transport), l.Interface, conn); err != nil {
		return err
	}
	return writeCounters(w, l.Stats)
}

func connected(b *bool) string {
	if b != nil && *b {
		return "connected"
	}
	return "disconnected"
}

func writeCounters(w io.Writer, s Stats) error {
	_, err := fmt.Fprintf(w, "%20d Bytes sent %20d Bytes recv\n%20d Pckts sent %20d Pckts recv\n%20d Error send %20d Error recv\n\n",
		s.BytesSent, s.BytesReceived, s.PacketsSent, s.PacketsReceived, s.ErrorsSent, s.ErrorsReceived)
	return err
}
