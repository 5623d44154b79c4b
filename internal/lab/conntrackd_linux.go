package lab

import (
	"fmt"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/legacyd"
)

// Conntrackd is the legacy conntrackd running on a firewall of the lab:
// the reference that ctsync's engines are compared with. Its client
// commands (Ctl, MustCtl), Log and Stop are legacyd.Daemon's.
type Conntrackd struct {
	FW *Node
	*legacyd.Daemon
}

// conntrackdConf is a primary-backup configuration as conntrackd's
// doc/sync/primary-backup/conntrackd.conf has it: FT-FW over IPv4
// multicast on the dedicated link, the link's own addresses ignored.
func conntrackdConf(fw *Node, f legacyd.Files) string {
	return fmt.Sprintf(`Sync {
	Mode FTFW {
		ResendQueueSize 131072
	}
	Multicast {
		IPv4_address %[1]s
		Group %[2]d
		IPv4_interface %[3]s
		Interface %[4]s
		Checksum on
	}
}
`, SyncGroup4, SyncPort, fw.SyncAddrs[0].Addr(), fw.Sync) + legacyd.General(f, `	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv6_address ::1
			IPv4_address 198.51.100.128/25
			IPv6_address 2001:db8:3::/64
		}
	}
`)
}

// StartConntrackd starts conntrackd 1.4.7 on firewall fw and waits until
// it answers on its control socket. It is stopped when the test ends (its
// output is shown if the test failed). The test is skipped (failed under
// CI) when conntrackd is not installed.
func (l *Lab) StartConntrackd(t T, fw *Node) *Conntrackd {
	t.Helper()
	legacyd.Require(t)
	l.starts++
	f := legacyd.FilesIn(filepath.Join(l.dir, fmt.Sprintf("conntrackd-%s-%d", fw.Role, l.starts)))
	return &Conntrackd{FW: fw, Daemon: legacyd.Start(t, fw, string(fw.Role), f, conntrackdConf(fw, f))}
}

// TakeOver does what keepalived's primary-backup.sh does on the node
// becoming primary (conntrackd's doc/sync/primary-backup.sh): commit the
// external cache into the kernel, flush the caches, resync the internal
// cache from the kernel, and send it to the peer.
func (d *Conntrackd) TakeOver(t T) {
	t.Helper()
	for _, step := range []string{"-c", "-f", "-R", "-B"} {
		d.MustCtl(t, step)
	}
}

// StepDown does what keepalived's primary-backup.sh does on the node
// becoming backup: schedule the purge of the kernel table (the flows it
// forwarded as primary go after conntrackd's PurgeTimeout) and ask the new
// primary for a full resync.
func (d *Conntrackd) StepDown(t T) {
	t.Helper()
	for _, step := range []string{"-t", "-n"} {
		d.MustCtl(t, step)
	}
}
