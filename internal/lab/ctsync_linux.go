package lab

import (
	"fmt"
	"strings"
)

// CtsyncConfig is the HCL configuration of a ctsync engine on firewall fw:
// sync mode mode ("ftfw", "notrack" or "alarm") to the other firewall over
// the dedicated link with transport ("udp", "multicast" or "tcp"), on its
// IPv6 addresses if v6. Like conntrackdConf (and legacyd.General), its
// filter keeps loopback and the sync link's own addresses off the link and
// its event socket has room for bursts; it purges a backup's kernel table
// quickly (1s) after a step-down.
func (l *Lab) CtsyncConfig(fw *Node, mode, transport string, v6 bool) string {
	peer := l.FW2
	if fw == l.FW2 {
		peer = l.FW1
	}
	i := 0
	if v6 {
		i = 1
	}
	local, remote := fw.SyncAddrs[i].Addr(), peer.SyncAddrs[i].Addr()
	var b strings.Builder
	fmt.Fprintf(&b, "  transport = %q\n  interface = %q\n", transport, fw.Sync)
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
	return fmt.Sprintf(`netlink {
  buffer_size            = "2MiB"
  buffer_size_max_growth = "8MiB"
}
filter {
  stage "address" {
    ignore = ["127.0.0.1", "::1", "198.51.100.128/25", "2001:db8:3::/64"]
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
link "sync" {
%s  port = %d
}
`, mode, b.String(), SyncPort)
}
