package lab

import (
	"fmt"
	"strings"
)

// CtsyncOptions vary a ctsync engine's configuration in the lab.
type CtsyncOptions struct {
	// Mode is the sync mode ("ftfw", "notrack" or "alarm"), Transport
	// the dedicated link's ("udp", "multicast" or "tcp"), on the link's
	// IPv6 addresses if V6.
	Mode, Transport string
	V6              bool
	// Burst sizes the event socket and the sync socket for a burst of
	// 100k flows, with a resync should the event socket overrun all the
	// same: NOTRACK and ALARM do not recover a message the sync socket
	// dropped (ALARM only at its next refresh).
	Burst bool
}

// CtsyncConfig is the HCL configuration of a ctsync engine on firewall fw:
// sync mode mode ("ftfw", "notrack" or "alarm") to the other firewall over
// the dedicated link with transport ("udp", "multicast" or "tcp"), on its
// IPv6 addresses if v6. Like conntrackdConf (and legacyd.General), its
// filter keeps loopback and the sync link's own addresses off the link and
// its event socket has room for bursts; it purges a backup's kernel table
// quickly (1s) after a step-down.
func (l *Lab) CtsyncConfig(fw *Node, mode, transport string, v6 bool) string {
	return l.CtsyncConfigWith(fw, CtsyncOptions{Mode: mode, Transport: transport, V6: v6})
}

// CtsyncConfigWith is CtsyncConfig with every option.
func (l *Lab) CtsyncConfigWith(fw *Node, o CtsyncOptions) string {
	mode, transport, v6 := o.Mode, o.Transport, o.V6
	peer := l.FW2
	if fw == l.FW2 {
		peer = l.FW1
	}
	i := 0
	if v6 {
		i = 1
	}
	// One link block for each sync link (Options.SyncLinks); the first
	// is the default, the one active at start-up.
	var links strings.Builder
	for j, s := range fw.SyncLinks {
		var b strings.Builder
		local, remote := s.Addrs[i].Addr(), peer.SyncLinks[j].Addrs[i].Addr()
		fmt.Fprintf(&b, "  transport = %q\n  interface = %q\n", transport, s.Name)
		if transport == "multicast" {
			group := SyncGroup4
			if v6 {
				group = SyncGroup6
			}
			fmt.Fprintf(&b, "  group = %q\n", group)
			if !v6 {
				fmt.Fprintf(&b, "  interface_address = %q\n", local)
			}
		} else {
			fmt.Fprintf(&b, "  local = %q\n  peer = %q\n", local, remote)
		}
		if o.Burst {
			b.WriteString("  send_buffer    = \"16MiB\"\n  receive_buffer = \"64MiB\"\n")
		}
		name := "sync"
		if j > 0 {
			name = fmt.Sprintf("sync%d", j+1)
		}
		fmt.Fprintf(&links, "link %q {\n%s  port = %d\n}\n", name, b.String(), SyncPort)
	}
	ignore := `"127.0.0.1", "::1", "198.51.100.128/25", "2001:db8:3::/64"`
	if len(fw.SyncLinks) > 1 {
		ignore += `, "2001:db8:4::/64"`
	}
	netlink := `  buffer_size            = "2MiB"
  buffer_size_max_growth = "8MiB"
`
	if o.Burst {
		netlink = `  buffer_size            = "32MiB"
  buffer_size_max_growth = "256MiB"
  overrun_resync         = "1s"
`
	}
	return fmt.Sprintf(`netlink {
%s}
filter {
  stage "address" {
    ignore = [%s]
  }
}
cache "internal" {
  size  = 8192
  limit = 262144
}
cache "external" {
  size  = 8192
  limit = 262144
}
sync %q {
  purge_timeout = "1s"
}
%s`, netlink, ignore, mode, links.String())
}
