package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// conntrackd 1.4.7 and ctsync on one lock file exclude each other, both
// ways, as two conntrackds do: the one that starts second is refused and
// leaves the file alone.
func TestLockFileWithConntrackd(t *testing.T) {
	netnstest.RequirePrivileged(t)
	legacyd.Require(t)
	ns := netnstest.NewNetNS(t)
	dir := t.TempDir()
	conf := func(f legacyd.Files) string {
		return "Sync {\n\tMode FTFW { }\n\tUDP { IPv4_address 127.0.0.1 IPv4_Destination_Address 127.0.0.2" +
			" Port 3780 Interface lo }\n}\n" + legacyd.General(f, "")
	}

	t.Run("conntrackd first", func(t *testing.T) {
		f := legacyd.FilesIn(filepath.Join(dir, "a"))
		legacyd.Start(t, ns, "a", f, conf(f))
		before, err := os.ReadFile(f.LockFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 0 {
			t.Errorf("conntrackd's lock file holds %q; lockfile.go takes it to be empty", before)
		}
		_, err = takeLock(f.LockFile)
		var el *errLocked
		if !errors.As(err, &el) || !strings.Contains(err.Error(), "not a ctsync lock file") {
			t.Fatalf("ctsync on conntrackd's lock file: %v, want refused", err)
		}
		if after, _ := os.ReadFile(f.LockFile); string(after) != string(before) {
			t.Errorf("conntrackd's lock file changed from %q to %q", before, after)
		}
	})

	t.Run("ctsync first", func(t *testing.T) {
		f := legacyd.FilesIn(filepath.Join(dir, "b"))
		if err := os.MkdirAll(f.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		l, err := takeLock(f.LockFile)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		if err := os.WriteFile(f.Conf, []byte(conf(f)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := ns.Command(legacyd.Command, "-C", f.Conf).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("conntrackd on ctsync's lock file: %v, want exit status 1\n%s", err, out)
		}
		if !strings.Contains(string(out), "lockfile `"+f.LockFile+"' exists, perhaps conntrackd already running?") {
			t.Errorf("conntrackd says:\n%s", out)
		}
		if b, _ := os.ReadFile(f.LockFile); !strings.HasPrefix(string(b), lockMarker) {
			t.Errorf("ctsync's lock file now holds %q", b)
		}
	})
}
