package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// Issue 10's readiness with real keepalived: README's vrrp_script, which
// runs `ctsync ready`, in keepalived (Debian's package) on both lab
// firewalls, with VRRP on the LAN. What an operator relies on: a node
// that is not ready still takes the virtual address when it is alone; a
// ready node takes it from one that is not; a backup that is not ready
// does not take it, and takes it once ready.

// readyVIP is the address keepalived moves, on the LAN beside the lab's
// own (which the lab moves itself).
const readyVIP = "198.51.100.100"

// startReadyDaemon runs `ctsync daemon` on fw with the lab's FT-FW
// configuration, startup_resync as given, until the test ends.
func startReadyDaemon(t *testing.T, l *lab.Lab, fw *lab.Node, withStartupResync bool) *labDaemon {
	t.Helper()
	dir := t.TempDir()
	hcl := labHCL(dir, l, fw, "ftfw")
	if withStartupResync {
		hcl = startupResync(hcl)
	}
	return launchDaemon(t, fw, dir, hcl)
}

// ready runs `ctsync ready` against d: its exit status and its line.
func (d *labDaemon) ready(t *testing.T) (int, string) {
	t.Helper()
	cmd := d.fw.Command("ctsync", "ready", "--socket", d.socket)
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, strings.TrimSpace(string(out))
	case errors.As(err, &ee):
		return ee.ExitCode(), strings.TrimSpace(string(out)) + strings.TrimSpace(string(ee.Stderr))
	}
	t.Fatalf("ctsync ready: %v", err)
	return -1, ""
}

// keepalivedConf is README's snippet (docs/readiness.md), with the
// lab's interface, address and socket, and intervals shortened so the
// test takes seconds.
func keepalivedConf(ctsync, socket, iface string, priority int) string {
	return fmt.Sprintf(`global_defs {
  script_user root
}
vrrp_script ctsync_ready {
  script "%s ready --socket %s --timeout 1s"
  interval 1
  timeout 2
  fall 2
  rise 2
  weight 50
}
vrrp_instance fw {
  state BACKUP
  interface %s
  virtual_router_id 51
  priority %d
  advert_int 1
  virtual_ipaddress {
    %s/25
  }
  track_script {
    ctsync_ready
  }
}
`, ctsync, socket, iface, priority, readyVIP)
}

// startKeepalived runs keepalived (VRRP only, in the foreground) on fw
// with the snippet, until the test ends.
func startKeepalived(t *testing.T, fw *lab.Node, d *labDaemon, priority int) {
	t.Helper()
	ctsync, err := exec.LookPath("ctsync")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(keepalivedConf(ctsync, d.socket, fw.LAN, priority)), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "keepalived.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := fw.Command("keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
		"--use-file", conf, "--pid", filepath.Join(dir, "keepalived.pid"), "--vrrp_pid", filepath.Join(dir, "vrrp.pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s's keepalived:\n%s", fw.Role, b)
		}
	})
}

// holdsVIP reports whether fw has the virtual address.
func holdsVIP(t *testing.T, fw *lab.Node) bool {
	t.Helper()
	out, err := fw.Command("ip", "-o", "addr", "show", "dev", fw.LAN).Output()
	if err != nil {
		t.Fatalf("%s: ip addr: %v", fw.Role, err)
	}
	return strings.Contains(string(out), " "+readyVIP+"/")
}

// vipOn waits until the address is on fw and not on other.
func vipOn(t *testing.T, fw, other *lab.Node, why string) {
	t.Helper()
	lab.Eventually(t, 20*time.Second, fmt.Sprintf("the virtual address on %s (%s)", fw.Role, why), func() (bool, string) {
		a, b := holdsVIP(t, fw), holdsVIP(t, other)
		return a && !b, fmt.Sprintf("%s holds it: %v, %s: %v", fw.Role, a, other.Role, b)
	})
}

func requireKeepalived(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("keepalived"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("keepalived: %v (Debian package keepalived)", err)
		}
		t.Skipf("skipping: keepalived: %v (Debian package keepalived; .ci/test installs it)", err)
	}
}

func TestKeepalivedTrackScript(t *testing.T) {
	netnstest.RequirePrivileged(t)
	requireKeepalived(t)
	const flows = 200
	l := lab.New(t, lab.Options{})
	// fw2 asks its peer for nothing at start (startup_resync off): it is
	// not ready until `ctsync resync`, as keepalived's script does on a
	// backup. fw1 asks, and is ready once fw2 has answered.
	fw2 := startReadyDaemon(t, l, l.FW2, false)
	fw1 := startReadyDaemon(t, l, l.FW1, true)
	l.FW1.Fill(t, flows)
	lab.Eventually(t, 30*time.Second, "fw1 ready", func() (bool, string) {
		code, line := fw1.ready(t)
		return code == 0 && strings.HasPrefix(line, "ready: "), fmt.Sprintf("exit %d: %s", code, line)
	})
	if code, line := fw2.ready(t); code != 1 || !strings.Contains(line, "not ready: no resync from the peer was asked for") {
		t.Fatalf("fw2: exit %d, %q; want 1, not ready for want of a resync", code, line)
	}

	// Alone, fw2 takes the address although it is not ready (120):
	// nobody else can.
	startKeepalived(t, l.FW2, fw2, 120)
	lab.Eventually(t, 20*time.Second, "fw2, alone, takes the address", func() (bool, string) {
		return holdsVIP(t, l.FW2), "not yet"
	})
	// fw1, ready (100 + 50), takes it from fw2, not ready (120).
	startKeepalived(t, l.FW1, fw1, 100)
	vipOn(t, l.FW1, l.FW2, "ready beats not ready")
	// And keeps it while fw2 is not ready: several track intervals.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if holdsVIP(t, l.FW2) || !holdsVIP(t, l.FW1) {
			t.Fatalf("the address moved to fw2, which is not ready: %v", fw2.mustCtl(t, "ready"))
		}
	}

	// fw2 asks for fw1's table and waits for all of it; then it is
	// ready (120 + 50 > 150) and takes the address.
	fw2.mustCtl(t, "resync")
	code, line := fw2.ready(t)
	if code != 0 || !strings.HasPrefix(line, "ready: resync from the peer complete") {
		t.Fatalf("fw2 after ctsync resync: exit %d, %q", code, line)
	}
	if n := strings.Count(fw2.mustCtl(t, "dump", "external"), "\n"); n < flows {
		t.Fatalf("fw2 says it is ready with %d of fw1's %d flows", n, flows)
	}
	vipOn(t, l.FW2, l.FW1, "fw2 is ready now")
	t.Logf("fw2: %s", line)
}
