package link_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/link"
)

// The wanted texts are what conntrackd 1.4.7 printed for the same
// situations (two UDP links with the second one's peer veth down; a TCP
// link with no peer; a multicast link), so that scripts parsing its
// "-s link" and "-s network" output read ours.
func TestWriteStats(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		links  []link.LinkStatus
		active bool // WriteActive of links[0] instead of WriteLinks
		want   string
	}{
		{
			name: "udp links",
			links: []link.LinkStatus{
				{Interface: "vA", Transport: link.UDP, State: "RUNNING", Active: true,
					Stats: link.Stats{BytesSent: 16, PacketsSent: 2}},
				{Interface: "vC", Transport: link.UDP, State: "NO-CARRIER"},
			},
			want: `UDP traffic device=vA status=RUNNING role=ACTIVE:
                  16 Bytes sent                    0 Bytes recv
                   2 Pckts sent                    0 Pckts recv
                   0 Error send                    0 Error recv

UDP traffic device=vC status=NO-CARRIER role=BACKUP:
                   0 Bytes sent                    0 Bytes recv
                   0 Pckts sent                    0 Pckts recv
                   0 Error send                    0 Error recv

`,
		},
		{
			name: "tcp link down",
			links: []link.LinkStatus{
				{Interface: "vC", Transport: link.TCP, State: "DOWN", Server: &no, Client: &no,
					Stats: link.Stats{ErrorsSent: 1, BytesReceived: 668, PacketsReceived: 13}},
			},
			want: `TCP traffic device=vC status=DOWN role=BACKUP:
                   0 Bytes sent                  668 Bytes recv
                   0 Pckts sent                   13 Pckts recv
                   1 Error send                    0 Error recv

`,
		},
		{
			name:   "active tcp block",
			active: true,
			links: []link.LinkStatus{
				{Interface: "vA", Transport: link.TCP, State: "RUNNING", Active: true, Server: &no, Client: &yes,
					Stats: link.Stats{ErrorsSent: 1}},
			},
			want: `TCP traffic (active device=vA) server=disconnected client=connected:
                   0 Bytes sent                    0 Bytes recv
                   0 Pckts sent                    0 Pckts recv
                   1 Error send                    0 Error recv

`,
		},
		{
			name:   "active multicast block",
			active: true,
			links: []link.LinkStatus{
				{Interface: "vA", Transport: link.Multicast, State: "RUNNING", Active: true,
					Stats: link.Stats{BytesSent: 16, PacketsSent: 2}},
			},
			want: `multicast traffic (active device=vA):
                  16 Bytes sent                    0 Bytes recv
                   2 Pckts sent                    0 Pckts recv
                   0 Error send                    0 Error recv

`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			var err error
			if tt.active {
				err = link.WriteActive(&b, tt.links[0])
			} else {
				err = link.WriteLinks(&b, tt.links)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
