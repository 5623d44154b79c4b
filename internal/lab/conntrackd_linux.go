package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctsync/ctsync/internal/legacyd"
)

// Conntrackd is the legacy conntrackd running on a firewall of the lab:
// the reference that ctsync's engines are compared with. Its client
// commands (Ctl, MustCtl), Log and Stop are legacyd.Daemon's.
type Conntrackd struct {
	FW *Node
	*legacyd.Daemon
}

// ConntrackdOptions say how StartConntrackdWith configures conntrackd;
// the zero value is StartConntrackd's primary-backup set-up.
type ConntrackdOptions struct {
	// Mode is the sync mode: "FTFW" (""), "NOTRACK" or "ALARM".
	Mode string
	// Transport is the dedicated link: "multicast" ("": the IPv4 group
	// SyncGroup4), "udp" or "tcp" (to the peer's IPv4 address on the
	// sync link).
	Transport string
	// StartupResync makes conntrackd ask its peer for its table at
	// start (FTFW and NOTRACK only).
	StartupResync bool
}

// conntrackdConf is a primary-backup configuration as conntrackd's
// doc/sync/primary-backup/conntrackd.conf has it, by default FT-FW over
// IPv4 multicast on the dedicated link, the link's own addresses ignored.
// ALARM refreshes every flow every second or so, so that a test waits
// little for a refresh.
func conntrackdConf(fw, peer *Node, f legacyd.Files, o ConntrackdOptions) (string, error) {
	mode := "Mode FTFW {\n\t\tResendQueueSize 131072\n\t}"
	switch o.Mode {
	case "", "FTFW":
	case "NOTRACK":
		mode = "Mode NOTRACK {\n\t}"
	case "ALARM":
		mode = "Mode ALARM {\n\t\tRefreshTime 1\n\t\tCacheTimeout 30\n\t}"
	default:
		return "", fmt.Errorf("conntrackd: unknown sync mode %q", o.Mode)
	}
	if o.StartupResync {
		if o.Mode == "ALARM" {
			return "", fmt.Errorf("conntrackd: StartupResync is not accepted in Mode ALARM")
		}
		mode = strings.Replace(mode, "{\n", "{\n\t\tStartupResync on\n", 1)
	}
	var link string
	switch o.Transport {
	case "", "multicast":
		link = fmt.Sprintf(`Multicast {
		IPv4_address %[1]s
		Group %[2]d
		IPv4_interface %[3]s
		Interface %[4]s
		Checksum on
	}`, SyncGroup4, SyncPort, fw.SyncAddrs[0].Addr(), fw.Sync)
	case "udp", "tcp":
		link = fmt.Sprintf(`%[1]s {
		IPv4_address %[2]s
		IPv4_Destination_Address %[3]s
		Port %[4]d
		Interface %[5]s
		Checksum on
	}`, strings.ToUpper(o.Transport), fw.SyncAddrs[0].Addr(), peer.SyncAddrs[0].Addr(), SyncPort, fw.Sync)
	default:
		return "", fmt.Errorf("conntrackd: unknown transport %q", o.Transport)
	}
	return fmt.Sprintf("Sync {\n\t%s\n\t%s\n}\n", mode, link) + legacyd.General(f, `	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv6_address ::1
			IPv4_address 198.51.100.128/25
			IPv6_address 2001:db8:3::/64
		}
	}
`), nil
}

// StartConntrackd starts conntrackd 1.4.7 on firewall fw and waits until
// it answers on its control socket. It is stopped when the test ends (its
// output is shown if the test failed). The test is skipped (failed under
// CI) when conntrackd is not installed.
func (l *Lab) StartConntrackd(t T, fw *Node) *Conntrackd {
	t.Helper()
	return l.StartConntrackdWith(t, fw, ConntrackdOptions{})
}

// StartConntrackdWith is StartConntrackd in the mode and on the transport
// o names.
func (l *Lab) StartConntrackdWith(t T, fw *Node, o ConntrackdOptions) *Conntrackd {
	t.Helper()
	legacyd.Require(t)
	peer := l.FW1
	if fw == l.FW1 {
		peer = l.FW2
	}
	l.starts++
	f := legacyd.FilesIn(filepath.Join(l.dir, fmt.Sprintf("conntrackd-%s-%d", fw.Role, l.starts)))
	conf, err := conntrackdConf(fw, peer, f, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return &Conntrackd{FW: fw, Daemon: legacyd.Start(t, fw, string(fw.Role), f, conf)}
}

// ConntrackdConf writes to f.Conf (creating f.Dir) the configuration
// StartConntrackdWith gives conntrackd on fw, without starting anything:
// for a test that starts the daemon the way an operator's script does
// (conntrackd -d), with conntrackd or with ctsync, which reads the same
// file.
func (l *Lab) ConntrackdConf(t T, fw *Node, f legacyd.Files, o ConntrackdOptions) {
	t.Helper()
	peer := l.FW1
	if fw == l.FW1 {
		peer = l.FW2
	}
	conf, err := conntrackdConf(fw, peer, f, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.WriteFile(f.Conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
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
