package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// keepalived, unchanged: keepalived's notify script for conntrackd,
// primary-backup.sh as Debian's conntrackd package ships it (conntrackd's
// doc/sync/primary-backup.sh), runs on each VRRP transition of each lab
// firewall, by hand, in the order keepalived runs it, with ctsync behind
// the name conntrackd (a symlink) on one or both nodes. What an operator
// cares about: the script does what it did (starts the daemon, commits,
// resyncs, logs no failure), and every connection survives fail-over and
// fail-back, also while one node still runs conntrackd 1.4.7.

// keepalivedScript is the script as the conntrackd package installs it.
const keepalivedScript = "/usr/share/doc/conntrackd/examples/sync/primary-backup.sh"

// keepalivedNode is a lab firewall as keepalived's script sees it: a
// conntrackd.conf (the lab's, which ctsync reads as it is), the script's
// copy and the conntrackd command it runs.
type keepalivedNode struct {
	fw    *lab.Node
	files legacyd.Files
	// conf is the script's CONNTRACKD_CONFIG: files.Conf, or ctsync's
	// own file after docs/migrating.md's last step.
	conf string
	// script is the node's copy of primary-backup.sh.
	script string
	// bin is the script's CONNTRACKD_BIN; binDir holds the conntrackd
	// that the test's own client commands run (the same program).
	bin, binDir string
	// logged is where the logger stand-in appends what the script logs;
	// seen is how much of it was checked.
	logged string
	seen   int
	env    []string
}

// The two conntrackd programs a node runs.
const (
	legacyBin = "conntrackd 1.4.7"
	ctsyncBin = "ctsync"
)

// requireScript skips the test when the script is not installed (docs
// left out of a minimal image), failing it under CI.
func requireScript(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(keepalivedScript); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("keepalived's script for conntrackd: %v (Debian package conntrackd, with its documentation)", err)
		}
		t.Skipf("skipping: %v (Debian package conntrackd, with its documentation)", err)
	}
}

// newKeepalivedNode prepares fw for keepalived's script: its
// conntrackd.conf, the script's copy, and which program is conntrackd
// there (legacyBin or ctsyncBin). Nothing runs yet: the script's first
// "backup" starts the daemon. Whatever daemon runs on the node when the
// test ends is stopped.
func newKeepalivedNode(t *testing.T, l *lab.Lab, fw *lab.Node, program string, o lab.ConntrackdOptions) *keepalivedNode {
	t.Helper()
	dir := t.TempDir()
	n := &keepalivedNode{fw: fw, files: legacyd.FilesIn(filepath.Join(dir, "conntrackd")),
		binDir: filepath.Join(dir, "sbin"), logged: filepath.Join(dir, "logger.log")}
	l.ConntrackdConf(t, fw, n.files, o)
	for _, d := range []string{n.binDir, filepath.Join(dir, "path")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.bin = filepath.Join(n.binDir, legacyName)
	n.install(t, program)
	if program == legacyBin {
		// The legacy node's script runs the package's daemon itself.
		n.bin = legacyPath(t)
	}
	n.script = filepath.Join(dir, "primary-backup.sh")
	n.editScript(t, n.files.Conf)

	// logger(1) stand-in: the script reports a failed step only through
	// logger, so this records what it logs for the test to check, and
	// keeps the test's messages out of the host's syslog.
	shim := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s\n", n.logged)
	if err := os.WriteFile(filepath.Join(dir, "path", "logger"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	n.env = append(os.Environ(), "PATH="+n.binDir+string(filepath.ListSeparator)+filepath.Join(dir, "path")+string(filepath.ListSeparator)+os.Getenv("PATH"))
	// Under -race, ctsync's daemon (this binary, detached, its output on
	// /dev/null) and clients write their race reports here.
	races := filepath.Join(dir, "race")
	n.env = append(n.env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" log_path="+races))
	t.Cleanup(func() {
		n.stop(t)
		reports, _ := filepath.Glob(races + ".*")
		for _, r := range reports {
			b, _ := os.ReadFile(r)
			t.Errorf("%s: a race in ctsync (%s):\n%s", fw.Role, r, b)
		}
	})
	return n
}

// legacyPath is where conntrackd 1.4.7 is installed (/usr/sbin/conntrackd).
func legacyPath(t *testing.T) string {
	t.Helper()
	legacyd.Require(t)
	p, err := exec.LookPath(legacyd.Command)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// install makes the node's conntrackd the program named: the package's
// daemon, or ctsync (this test binary, which is ctsync's conntrackd
// command line when called conntrackd: TestMain). It is what an operator
// does to /usr/sbin/conntrackd (docs/migrating.md).
func (n *keepalivedNode) install(t *testing.T, program string) {
	t.Helper()
	target := ""
	switch program {
	case legacyBin:
		target = legacyPath(t)
	case ctsyncBin:
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		target = self
	default:
		t.Fatalf("unknown program %q", program)
	}
	link := filepath.Join(n.binDir, legacyName)
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// scriptVar matches one of the script's three path assignments.
var scriptVar = regexp.MustCompile(`(?m)^(CONNTRACKD_BIN|CONNTRACKD_LOCK|CONNTRACKD_CONFIG)=.*$`)

// editScript copies keepalived's script to n.script, changing nothing but its
// three path variables, as an operator edits them for their system: the
// conntrackd it runs, the lock file and the configuration (conf: the
// legacy file or, after docs/migrating.md's last step, ctsync's own).
func (n *keepalivedNode) editScript(t *testing.T, conf string) {
	t.Helper()
	b, err := os.ReadFile(keepalivedScript)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"CONNTRACKD_BIN": n.bin, "CONNTRACKD_LOCK": n.files.LockFile, "CONNTRACKD_CONFIG": conf}
	edited := 0
	out := scriptVar.ReplaceAllStringFunc(string(b), func(m string) string {
		name, _, _ := strings.Cut(m, "=")
		edited++
		return name + "=" + values[name]
	})
	if edited != 3 {
		t.Fatalf("%s: %d path assignments, want the 3 the test edits: has the script changed?", keepalivedScript, edited)
	}
	if err := os.WriteFile(n.script, []byte(out), 0o755); err != nil {
		t.Fatal(err)
	}
	n.conf = conf
}

// notifyTimeout bounds a run of the script: keepalived waits for none,
// but a step that hangs is a failure here.
const notifyTimeout = 30 * time.Second

// notify runs the script for a VRRP state, as keepalived's notify_master
// ("primary"), notify_backup and notify_fault do, and fails the test if
// it fails or logs anything: it logs a failed step only. ctsync also
// prints the failure its daemon reports on a step conntrackd would
// report as done (docs/compat.md): an [ERROR] line in the output fails
// the test too, except -s's "can't connect" when the script finds no
// daemon and starts one.
func (n *keepalivedNode) notify(t *testing.T, state string) {
	t.Helper()
	cmd := n.fw.Command("sh", n.script, state)
	cmd.Env = n.env
	// The output goes to a file, not a pipe: a daemon the script starts
	// may keep the descriptors it inherited, and a pipe would then not
	// end with the script.
	f, err := os.CreateTemp(t.TempDir(), "notify")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(notifyTimeout):
		cmd.Process.Kill()
		err = fmt.Errorf("still running after %v", notifyTimeout)
		<-done
	}
	out, _ := os.ReadFile(f.Name())
	if err != nil {
		t.Fatalf("%s: primary-backup.sh %s: %v\n%s%s", n.fw.Role, state, err, out, n.log())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[ERROR]") && !strings.Contains(line, "can't connect: is conntrackd running?") {
			t.Errorf("%s: primary-backup.sh %s: %s", n.fw.Role, state, line)
		}
	}
	b, _ := os.ReadFile(n.logged)
	if logged := string(b[min(n.seen, len(b)):]); logged != "" {
		t.Errorf("%s: primary-backup.sh %s logged:\n%s%s", n.fw.Role, state, logged, n.log())
	}
	n.seen = len(b)
	t.Logf("%s: primary-backup.sh %s: done", n.fw.Role, state)
}

// runs checks that the daemon running on n is program's: ctsync writes
// "ctsync PID" into its lock file, conntrackd leaves it empty.
func (n *keepalivedNode) runs(t *testing.T, program string) {
	t.Helper()
	b, err := os.ReadFile(n.files.LockFile)
	if err != nil {
		t.Fatalf("%s: no daemon's lock file: %v", n.fw.Role, err)
	}
	if got := map[bool]string{true: ctsyncBin, false: legacyBin}[strings.HasPrefix(string(b), "ctsync ")]; got != program {
		t.Fatalf("%s: the daemon running is %s (lock file %q), want %s", n.fw.Role, got, b, program)
	}
}

// ctl runs the node's conntrackd with -C and args (a client command) and
// returns its output; a status other than 0 fails the test.
func (n *keepalivedNode) ctl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := n.fw.Command(legacyName, append([]string{"-C", n.conf}, args...)...)
	cmd.Env = n.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: conntrackd %s: %v\n%s%s", n.fw.Role, strings.Join(args, " "), err, stderr.String(), n.log())
	}
	return string(out)
}

// external lists the node's external cache (conntrackd -e), one flow a
// line.
func (n *keepalivedNode) external(t *testing.T) []string {
	t.Helper()
	return nonEmpty(n.ctl(t, "-e"))
}

// log is the daemon's log file, for failure messages.
func (n *keepalivedNode) log() string {
	b, _ := os.ReadFile(n.files.LogFile)
	return fmt.Sprintf("%s's daemon log (%s):\n%s", n.fw.Role, n.files.LogFile, b)
}

// stop stops the daemon the script started on the node, if one runs: -k,
// as an operator would; then, if its lock file stays, SIGKILL to the
// processes whose command line names the node's configuration (only this
// test's daemons: the path is in its temporary directory).
func (n *keepalivedNode) stop(t *testing.T) {
	if _, err := os.Stat(n.files.LockFile); err != nil {
		return
	}
	cmd := n.fw.Command(legacyName, "-C", n.conf, "-k")
	cmd.Env = n.env
	cmd.Run()
	if waitNoFile(n.files.LockFile, 5*time.Second) {
		return
	}
	t.Errorf("%s: the daemon did not stop on conntrackd -k; killing it", n.fw.Role)
	for _, pid := range pidsNaming(n.files.Dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitNoFile waits up to limit for path to be gone.
func waitNoFile(path string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err != nil {
			return true
		}
	}
	return false
}

// pidsNaming returns the processes one of whose arguments is a path in
// dir.
func pidsNaming(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, arg := range strings.Split(string(b), "\x00") {
			if strings.HasPrefix(arg, dir+string(filepath.Separator)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func nonEmpty(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// kaKey is how a flow shows in conntrackd -e and conntrack -L: its
// original source and source port.
type kaKey struct {
	src   string
	sport uint16
}

func (k kaKey) String() string { return fmt.Sprintf("src=%s sport=%d", k.src, k.sport) }

// in reports whether a line of lines shows k's flow: the first src= and
// sport= of a line are the original direction's in both listings.
func (k kaKey) in(lines []string) bool {
	src, sport := "src="+k.src+" ", fmt.Sprintf("sport=%d ", k.sport)
	for _, l := range lines {
		if i := strings.Index(l, "src="); i >= 0 && strings.HasPrefix(l[i:], src) {
			if j := strings.Index(l, "sport="); j >= 0 && strings.HasPrefix(l[j:]+" ", sport) {
				return true
			}
		}
	}
	return false
}

// missing returns how many of keys no line of lines shows, and a few of
// them for messages.
func missing(lines []string, keys []kaKey) (n int, some []string) {
	for _, k := range keys {
		if !k.in(lines) {
			n++
			if len(some) < 5 {
				some = append(some, k.String())
			}
		}
	}
	return n, some
}

// kaSynthetic is how many made-up flows each phase of traffic adds.
const kaSynthetic = 100

// kaTraffic is what the cluster forwards: real connections, which must
// keep echoing, and made-up flows, which must reach the other node.
type kaTraffic struct {
	conns []*lab.Conn
	keys  []kaKey
}

// add opens an IPv4 and an IPv6 connection through the active
// firewall and adds kaSynthetic made-up flows to its table, the first
// numbered first; every connection must echo at once.
func (tr *kaTraffic) add(t *testing.T, l *lab.Lab, first int) {
	t.Helper()
	var entries []lab.Entry
	for i := first; i < first+kaSynthetic; i++ {
		e := lab.Synthetic(i)
		entries = append(entries, e)
		tr.keys = append(tr.keys, kaKey{e.Src.String(), e.SPort})
	}
	l.Active().Insert(t, entries...)
	for _, f := range []lab.Family{lab.IPv4, lab.IPv6} {
		c := l.Dial(t, f, 5*time.Second)
		if err := c.Echo(2 * time.Second); err != nil {
			t.Fatalf("%s: echo through %s: %v", c, l.Active().Role, err)
		}
		tr.conns = append(tr.conns, c)
		tr.keys = append(tr.keys, kaKey{c.Local.Addr().String(), c.Local.Port()})
	}
}

// warmUp waits until a first flow through the active firewall reaches
// the backup's external cache: a cluster's link has carried traffic long
// before a fail-over, and the daemons start at once here.
func warmUp(t *testing.T, l *lab.Lab, backup *keepalivedNode, i int) {
	t.Helper()
	e := lab.Synthetic(i)
	l.Active().Insert(t, e)
	k := kaKey{e.Src.String(), e.SPort}
	lab.Eventually(t, 15*time.Second, "a first flow to reach "+string(backup.fw.Role), func() (bool, string) {
		got := backup.external(t)
		return k.in(got), fmt.Sprintf("%d flows in %s's external cache", len(got), backup.fw.Role)
	})
}

// waitExternal waits until n's external cache holds every flow of tr.
func waitExternal(t *testing.T, n *keepalivedNode, tr *kaTraffic) {
	t.Helper()
	lab.Eventually(t, 15*time.Second, string(n.fw.Role)+"'s external cache to hold every flow", func() (bool, string) {
		ext := n.external(t)
		m, some := missing(ext, tr.keys)
		return m == 0, fmt.Sprintf("%d of %d flows missing, e.g. %q; %d in the cache", m, len(tr.keys), some, len(ext))
	})
}

// carriesOn checks that the active firewall's kernel holds every flow of
// tr after its notify_master, and that every connection echoes through
// it, ESTABLISHED in its table.
func carriesOn(t *testing.T, l *lab.Lab, tr *kaTraffic) {
	t.Helper()
	fw := l.Active()
	if m, some := missing(fw.Entries(t), tr.keys); m > 0 {
		t.Errorf("%s's kernel lacks %d of %d flows after primary-backup.sh primary, e.g. %q", fw.Role, m, len(tr.keys), some)
	}
	for _, c := range tr.conns {
		if err := c.Echo(3 * time.Second); err != nil {
			t.Errorf("%s: echo through %s after fail-over: %v", c, fw.Role, err)
			continue
		}
		if got := fw.Entries(t, c.ConnMatch()...); len(got) != 1 || !strings.Contains(got[0], "ESTABLISHED") {
			t.Errorf("%s's entries for %s = %q, want one ESTABLISHED", fw.Role, c, got)
		}
	}
}

// TestKeepalivedScript runs keepalived's script on both firewalls through
// a fail-over, a fault and a fail-back, with ctsync or conntrackd 1.4.7
// on each node: both ctsync, and the two mixed pairs of a cluster moved
// one node at a time. conntrackd on both is the reference: the scenario
// holds for the daemon the script was written for. Each sync mode:
// FT-FW over multicast as conntrackd's documentation sets it up, NOTRACK
// and ALARM over UDP (in ALARM the script's -n and -B do nothing: the
// lab's one-second refresh carries the flows).
func TestKeepalivedScript(t *testing.T) {
	netnstest.RequirePrivileged(t)
	requireScript(t)
	if testing.Short() {
		t.Skip("runs two daemons in a two-firewall lab")
	}
	pairs := []struct{ fw1, fw2 string }{
		{ctsyncBin, ctsyncBin},
		{legacyBin, ctsyncBin},
		{ctsyncBin, legacyBin},
		{legacyBin, legacyBin},
	}
	modes := []lab.ConntrackdOptions{{Mode: "FTFW"}, {Mode: "NOTRACK", Transport: "udp"}, {Mode: "ALARM", Transport: "udp"}}
	for _, o := range modes {
		for _, tc := range pairs {
			name := fmt.Sprintf("%s/fw1=%s,fw2=%s", o.Mode, tc.fw1, tc.fw2)
			t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) { keepalivedScenario(t, tc.fw1, tc.fw2, o) })
		}
	}
}

// keepalivedScenario is TestKeepalivedScript's scenario with program1 on
// fw1 and program2 on fw2.
func keepalivedScenario(t *testing.T, program1, program2 string, o lab.ConntrackdOptions) {
	l := lab.New(t, lab.Options{})
	l.StartEcho(t)
	n1 := newKeepalivedNode(t, l, l.FW1, program1, o)
	n2 := newKeepalivedNode(t, l, l.FW2, program2, o)

	// keepalived starts every node in BACKUP; the one with
	// the higher priority then becomes MASTER. "backup"
	// finds no daemon (-s) and starts one (-d).
	n1.notify(t, "backup")
	n2.notify(t, "backup")
	n1.runs(t, program1)
	n2.runs(t, program2)
	n1.notify(t, "primary")

	var tr kaTraffic
	warmUp(t, l, n2, 60000)
	tr.add(t, l, 0)
	waitExternal(t, n2, &tr)

	// fw1 gives up MASTER: the addresses move, and keepalived
	// runs the new master's notify (commit, flush, resync,
	// bulk send), then the old one's (purge timer, resync
	// request).
	l.FailOver(t)
	n2.notify(t, "primary")
	n1.notify(t, "backup")
	carriesOn(t, l, &tr)

	// New connections through fw2 reach fw1, with those fw2
	// took over (its bulk send).
	tr.add(t, l, 1000)
	waitExternal(t, n1, &tr)

	// fw2 goes to FAULT (say its WAN link failed): it drops
	// the addresses and runs notify_fault; fw1 takes over.
	n2.notify(t, "fault")
	l.FailOver(t)
	n1.notify(t, "primary")
	carriesOn(t, l, &tr)

	// fw2 recovers as BACKUP: its daemon still runs (-s), and
	// it asks fw1 for its table (-n).
	n2.notify(t, "backup")
	waitExternal(t, n2, &tr)
}
