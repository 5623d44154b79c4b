package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// TestDaemonStatsMode: `ctsync daemon` on a legacy conntrackd.conf in
// stats mode logs a flow destroyed in its namespace as conntrackd does
// (time stamp, tab, the flow), lists the flows it tracks, reopens its
// flow log on SIGHUP (logrotate) and stops cleanly.
func TestDaemonStatsMode(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows.log")
	socket := filepath.Join(dir, "ctsync.ctl")
	conf := filepath.Join(dir, "conntrackd.conf")
	legacy := fmt.Sprintf(`General {
	HashSize 1024
	HashLimit 4096
	LogFile %s
	Syslog off
	LockFile %s
	UNIX { Path %s }
}
Stats {
	LogFile %s
}
`, filepath.Join(dir, "ctsync.log"), filepath.Join(dir, "ctsync.lock"), socket, flows)
	if err := os.WriteFile(conf, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command("ctsync", "daemon", conf)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			t.Logf("the daemon's standard error:\n%s", stderr.String())
		}
	})
	ctl := func(args ...string) (string, error) {
		out, err := ns.Command("ctsync", append(args, "--socket", socket)...).CombinedOutput()
		return string(out), err
	}
	lab.Eventually(t, 10*time.Second, "the daemon to serve", func() (bool, string) {
		out, err := ctl("stats")
		return err == nil, fmt.Sprint(err, out)
	})
	if out, _ := ctl("stats"); !strings.Contains(out, "cache stats:") {
		t.Errorf("stats in stats mode:\n%s", out)
	}
	if out, err := ctl("commit"); err == nil || !strings.Contains(out, "stats mode") {
		t.Errorf("commit in stats mode: %v %s; want a refusal naming stats mode", err, out)
	}

	flow := []string{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "80", "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED", "-m", "7", "-t", "300"}
	ns.Exec(t, "conntrack", append([]string{"-I"}, flow...)...)
	lab.Eventually(t, 10*time.Second, "the flow in the stats cache", func() (bool, string) {
		out, err := ctl("dump", "internal")
		return err == nil && strings.Contains(out, "src=198.18.0.1 dst=198.18.0.2 sport=1000"), out
	})
	ns.Exec(t, "conntrack", "-D")
	line := regexp.MustCompile(`^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}\ttcp      6 ESTABLISHED src=198\.18\.0\.1 dst=198\.18\.0\.2 sport=1000 dport=80 (packets=0 bytes=0 )?src=198\.18\.0\.2 dst=198\.18\.0\.1 sport=80 dport=1000 (packets=0 bytes=0 )?\[ASSURED\] mark=7( delta-time=\d+)?\n$`)
	lab.Eventually(t, 10*time.Second, "the ended flow's line", func() (bool, string) {
		b, _ := os.ReadFile(flows)
		return line.Match(b), fmt.Sprintf("%q", b)
	})
	if fi, err := os.Stat(flows); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("flow log: %v %v, want mode 0600", fi, err)
	}

	// logrotate moves the file and sends SIGHUP: the next line goes to
	// a new file.
	if err := os.Rename(flows, flows+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	lab.Eventually(t, 10*time.Second, "a new flow log", func() (bool, string) {
		_, err := os.Stat(flows)
		return err == nil, fmt.Sprint(err)
	})
	ns.Exec(t, "conntrack", append([]string{"-I"}, flow...)...)
	lab.Eventually(t, 10*time.Second, "the flow in the stats cache", func() (bool, string) {
		out, err := ctl("dump", "internal")
		return err == nil && strings.Contains(out, "src=198.18.0.1"), out
	})
	ns.Exec(t, "conntrack", "-D")
	lab.Eventually(t, 10*time.Second, "the ended flow's line in the new file", func() (bool, string) {
		b, _ := os.ReadFile(flows)
		return line.Match(b), fmt.Sprintf("%q", b)
	})

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-waited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop within 10s of SIGTERM")
	}
}
