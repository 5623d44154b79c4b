package control

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// The real conntrackd 1.4.7 on the socket path: while it runs, ctsync
// refuses to start there (and does not disturb it); once it has died
// without cleaning up, ctsync takes the stale path over.
func TestIntegrationListenLegacy(t *testing.T) {
	netnstest.RequirePrivileged(t)
	if _, err := exec.LookPath("conntrackd"); err != nil {
		t.Skip("skipping: conntrackd is not installed (bash .ci/test installs it)")
	}
	ns := netnstest.NewNetNS(t)
	path := socketPath(t)
	dir := filepath.Dir(path)
	conf := filepath.Join(dir, "conntrackd.conf")
	// A General section alone runs a daemon that serves its socket.
	err := os.WriteFile(conf, fmt.Appendf(nil, "General {\n\tSystemd off\n\tSyslog off\n\tLogFile %s\n\tLockFile %s\n\tUNIX { Path %s }\n}\n",
		filepath.Join(dir, "log"), filepath.Join(dir, "lock"), path), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var out logBuffer
	cmd := ns.Command("conntrackd", "-C", conf) // foreground: this process is the daemon
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("conntrackd output:\n%s", out.String())
		}
	})
	ctl := func(args ...string) error {
		return ns.Command("conntrackd", append([]string{"-C", conf}, args...)...).Run()
	}
	for i := 0; ctl("-s") != nil; i++ {
		if i == 100 {
			t.Fatal("conntrackd does not answer on its socket")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := Listen(path, 0); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen with conntrackd alive on the path: %v, want ErrInUse", err)
	}
	if err := ctl("-s"); err != nil {
		t.Fatalf("conntrackd no longer answers after the probe: %v", err)
	}

	// SIGKILL: no clean-up, the socket file stays behind.
	cmd.Process.Kill()
	<-done
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("no stale socket after conntrackd was killed: %v", err)
	}
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatalf("Listen over conntrackd's stale socket: %v", err)
	}
	defer l.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != DefaultMode {
		t.Errorf("socket %v, %v; want mode %v", fi.Mode(), err, DefaultMode)
	}
}
