package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// migratingSteps are docs/migrating.md's headings, in order, but for its
// last ("Going back", which the mixed pairs of TestKeepalivedScript
// cover): TestMigrating runs each, TestMigratingHeadings checks the
// document has them.
var migratingSteps = []string{
	"Before you start",
	"Step 1: check the configuration",
	"Step 2: convert it, for later",
	"Step 3: install ctsync on the backup",
	"Step 4: check that the backup has the primary's table",
	"Step 5: fail over to ctsync",
	"Step 6: install ctsync on the other node",
	"Step 7: fail back",
	"Step 8: later, ctsync's own configuration",
}

// The document and the test that runs it must not drift apart: a step
// renamed, added or moved in one is in the other.
func TestMigratingHeadings(t *testing.T) {
	b, err := os.ReadFile("../../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok && h != "Going back" {
			got = append(got, h)
		}
	}
	if !slices.Equal(got, migratingSteps) {
		t.Errorf("docs/migrating.md's headings:\n%s\nTestMigrating's steps:\n%s", strings.Join(got, "\n"), strings.Join(migratingSteps, "\n"))
	}
}

// TestMigrating runs docs/migrating.md in the lab, step by step: a
// two-node cluster under keepalived's script moves from conntrackd 1.4.7
// to ctsync one node at a time, with connections open all along. Each
// step's name is its heading in the document, which points back here;
// change them together.
//
// In the lab each firewall's /usr/sbin/conntrackd is a symlink in a
// directory of the test's (keepalivedNode.install), which the script's
// CONNTRACKD_BIN names; replacing the binary is re-pointing it.
func TestMigrating(t *testing.T) {
	netnstest.RequirePrivileged(t)
	requireScript(t)
	if testing.Short() {
		t.Skip("runs two daemons in a two-firewall lab")
	}
	l := lab.New(t, lab.Options{})
	l.StartEcho(t)
	fw1 := newKeepalivedNode(t, l, l.FW1, legacyBin, lab.ConntrackdOptions{})
	fw2 := newKeepalivedNode(t, l, l.FW2, legacyBin, lab.ConntrackdOptions{})
	for _, n := range []*keepalivedNode{fw1, fw2} {
		// The script runs /usr/sbin/conntrackd, the lab's stand-in.
		n.bin = filepath.Join(n.binDir, legacyName)
		n.editScript(t, n.files.Conf)
	}
	k := 0
	step := func(name string) {
		t.Helper()
		if k >= len(migratingSteps) || migratingSteps[k] != name {
			t.Fatalf("step %q is not docs/migrating.md's next heading in migratingSteps", name)
		}
		k++
		t.Logf("docs/migrating.md: %s", name)
	}
	var tr kaTraffic

	step("Before you start")
	fw1.notify(t, "backup")
	fw2.notify(t, "backup")
	fw1.notify(t, "primary")
	fw1.runs(t, legacyBin)
	fw2.runs(t, legacyBin)
	warmUp(t, l, fw2, 60000)
	tr.add(t, l, 0)
	waitExternal(t, fw2, &tr)

	step("Step 1: check the configuration")
	for _, n := range []*keepalivedNode{fw1, fw2} {
		out := n.ctsync(t, "validate", "--strict", n.files.Conf)
		t.Logf("%s: ctsync validate --strict: %s", n.fw.Role, out)
	}

	step("Step 2: convert it, for later")
	hcl := map[*keepalivedNode]string{}
	for _, n := range []*keepalivedNode{fw1, fw2} {
		hcl[n] = filepath.Join(n.files.Dir, "ctsync.hcl")
		n.ctsync(t, "migrate", n.files.Conf, "-o", hcl[n])
		n.ctsync(t, "validate", "--strict", hcl[n])
	}

	step("Step 3: install ctsync on the backup")
	fw2.replace(t, l, &tr, 1000)

	step("Step 4: check that the backup has the primary's table")
	fw2.ctl(t, "-s")
	waitExternal(t, fw2, &tr)

	step("Step 5: fail over to ctsync")
	l.FailOver(t)
	fw2.notify(t, "primary")
	fw1.notify(t, "backup")
	carriesOn(t, l, &tr)
	tr.add(t, l, 2000)
	waitExternal(t, fw1, &tr)

	step("Step 6: install ctsync on the other node")
	fw1.replace(t, l, &tr, 3000)
	fw1.ctl(t, "-s")
	waitExternal(t, fw1, &tr)

	step("Step 7: fail back")
	l.FailOver(t)
	fw1.notify(t, "primary")
	fw2.notify(t, "backup")
	carriesOn(t, l, &tr)
	tr.add(t, l, 4000)
	waitExternal(t, fw2, &tr)

	step("Step 8: later, ctsync's own configuration")
	// On the backup: the daemon from ctsync.hcl, as its systemd unit
	// runs it, and the script's CONNTRACKD_CONFIG on that file.
	fw2.ctl(t, "-k")
	if !waitNoFile(fw2.files.LockFile, 5*time.Second) {
		t.Fatalf("fw2: the daemon did not stop on conntrackd -k\n%s", fw2.log())
	}
	fw2.ctsyncDaemon(t, hcl[fw2])
	fw2.editScript(t, hcl[fw2])
	fw2.notify(t, "backup")
	waitExternal(t, fw2, &tr)
	l.FailOver(t)
	fw2.notify(t, "primary")
	fw1.notify(t, "backup")
	carriesOn(t, l, &tr)
}

// ctsync runs a ctsync command on the node and returns its output; a
// status other than 0 fails the test.
func (n *keepalivedNode) ctsync(t *testing.T, args ...string) string {
	t.Helper()
	cmd := n.fw.Command("ctsync", args...)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: ctsync %s: %v\n%s", n.fw.Role, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// replace is docs/migrating.md's steps 3 and 6 on n, a backup: stop
// conntrackd, replace the binary with ctsync, and start it as keepalived's
// script does for a backup, which asks the primary for its table. While
// n is down, the primary takes new connections and flows, numbered from
// first, which n can only learn from that resync.
func (n *keepalivedNode) replace(t *testing.T, l *lab.Lab, tr *kaTraffic, first int) {
	t.Helper()
	n.ctl(t, "-k")
	if !waitNoFile(n.files.LockFile, 5*time.Second) {
		t.Fatalf("%s: conntrackd did not stop on -k\n%s", n.fw.Role, n.log())
	}
	tr.add(t, l, first)
	n.install(t, ctsyncBin)
	n.notify(t, "backup")
	n.runs(t, ctsyncBin)
}

// ctsyncDaemon runs `ctsync daemon conf` on the node in the foreground,
// as a systemd unit would, until the test ends.
func (n *keepalivedNode) ctsyncDaemon(t *testing.T, conf string) {
	t.Helper()
	cmd := n.fw.Command("ctsync", "daemon", conf)
	cmd.Env = n.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: ctsync daemon %s after SIGTERM: %v", n.fw.Role, conf, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%s: ctsync daemon %s still running 10s after SIGTERM", n.fw.Role, conf)
		}
	})
	lab.Eventually(t, 10*time.Second, string(n.fw.Role)+"'s ctsync daemon to serve", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s: ctsync daemon %s exited: %v\n%s", n.fw.Role, conf, err, n.log())
		default:
		}
		c := n.fw.Command(legacyName, "-C", conf, "-s")
		c.Env = n.env
		out, err := c.CombinedOutput()
		return err == nil, string(out)
	})
}
