package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conntrackd is the legacy conntrackd running on a firewall of the lab:
// the reference that ctsync's engines are compared with.
type Conntrackd struct {
	FW   *Node
	Conf string // its configuration file
	dir  string
	out  lockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// conntrackdConf is a primary-backup configuration as conntrackd's
// doc/sync/primary-backup/conntrackd.conf has it: FT-FW over IPv4
// multicast on the dedicated link, the link's own addresses ignored.
func conntrackdConf(fw *Node, dir string) string {
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
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile %[5]s
	Syslog off
	LockFile %[6]s
	UNIX { Path %[7]s }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv6_address ::1
			IPv4_address 198.51.100.128/25
			IPv6_address 2001:db8:3::/64
		}
	}
}
`, SyncGroup4, SyncPort, fw.SyncAddrs[0].Addr(), fw.Sync,
		filepath.Join(dir, "conntrackd.log"), filepath.Join(dir, "lock"), filepath.Join(dir, "ctl.sock"))
}

// StartConntrackd starts conntrackd 1.4.7 on firewall fw and waits until
// it answers on its control socket. It is stopped when the test ends (its
// log is shown if the test failed). The test is skipped (failed under CI)
// when conntrackd is not installed.
func (l *Lab) StartConntrackd(t testing.TB, fw *Node) *Conntrackd {
	t.Helper()
	if _, err := exec.LookPath("conntrackd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no conntrackd command (Debian package conntrackd)")
		}
		t.Skipf("skipping: no conntrackd command (Debian package conntrackd)")
	}
	l.starts++
	dir := filepath.Join(l.dir, fmt.Sprintf("conntrackd-%s-%d", fw.Role, l.starts))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &Conntrackd{FW: fw, Conf: filepath.Join(dir, "conntrackd.conf"), dir: dir, done: make(chan struct{})}
	if err := os.WriteFile(d.Conf, []byte(conntrackdConf(fw, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	// No -d: in the foreground this process is the daemon, and can be
	// stopped by its id.
	d.cmd = fw.Command("conntrackd", "-C", d.Conf)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start conntrackd on %s: %v", fw.Role, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			// In the foreground it logs to its output too.
			t.Logf("conntrackd on %s:\n%s", fw.Role, d.out.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("conntrackd on %s exited at start-up:\n%s", fw.Role, d.out.String())
		default:
		}
		out, err := d.Ctl("-s")
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("conntrackd on %s does not answer on its control socket after 5s: %v\n%s", fw.Role, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ctl runs a conntrackd client command (-c, -f, -e, -i, ...) against d.
func (d *Conntrackd) Ctl(args ...string) (string, error) {
	out, err := d.FW.Command("conntrackd", append([]string{"-C", d.Conf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("conntrackd %s on %s: %w: %s", strings.Join(args, " "), d.FW.Role, err, out)
	}
	return string(out), nil
}

// MustCtl is Ctl failing the test on error.
func (d *Conntrackd) MustCtl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.Ctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TakeOver does what keepalived's primary-backup.sh does on the node
// becoming primary (conntrackd's doc/sync/primary-backup.sh): commit the
// external cache into the kernel, flush the caches, resync the internal
// cache from the kernel, and send it to the peer.
func (d *Conntrackd) TakeOver(t testing.TB) {
	t.Helper()
	for _, step := range []string{"-c", "-f", "-R", "-B"} {
		d.MustCtl(t, step)
	}
}

// StepDown does what keepalived's primary-backup.sh does on the node
// becoming backup: schedule the purge of the kernel table (the flows it
// forwarded as primary go after conntrackd's PurgeTimeout) and ask the new
// primary for a full resync.
func (d *Conntrackd) StepDown(t testing.TB) {
	t.Helper()
	for _, step := range []string{"-t", "-n"} {
		d.MustCtl(t, step)
	}
}

// Log returns what the daemon wrote to its log file so far.
func (d *Conntrackd) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "conntrackd.log"))
	return string(b)
}

// Stop shuts the daemon down as an operator would (-k), and kills it if
// that does not work within 3 seconds.
func (d *Conntrackd) Stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.Ctl("-k")
	select {
	case <-d.done:
	case <-time.After(3 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}
