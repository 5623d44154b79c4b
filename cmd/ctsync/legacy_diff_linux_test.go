package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// The differential test: the same sessions of conntrackd commands run
// against conntrackd 1.4.7 and against ctsync's conntrackd command line,
// each in its own network namespace holding the same flows, both started
// from the same legacy conntrackd.conf. Outputs and exit statuses must be
// the same once the differences docs/compat.md lists are normalised, each
// by its name below.

// normaliser removes one known difference from an output.
type normaliser struct {
	name string // as docs/compat.md says it
	re   *regexp.Regexp
	with string
}

var (
	// Both print log lines with the time and the process id.
	logPrefix = normaliser{"log line time and pid", regexp.MustCompile(`(?m)^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] \(pid=\d+\) `), ""}
	// The objects of the two caches were created at other moments.
	activeSince = normaliser{"active since", regexp.MustCompile(` \[active since \d+s\]`), " [active since Ns]"}
	// conntrackd keeps the kernel's conntrack id; ctsync's cache does not.
	xmlID = normaliser{"-x XML: the kernel's <id>", regexp.MustCompile(`<id>\d+</id>`), ""}
	// Counters of traffic and timing differ between any two daemons.
	counters = normaliser{"statistics counters", regexp.MustCompile(`\d+`), "N"}
	// What FT-FW's resend queue holds at a given moment (its ALIVE and
	// resync control messages) depends on timers.
	resendItems = normaliser{"resend queue contents", regexp.MustCompile(`(?m)^(control|object) -> .*\n?|\(len=\d+\)`), ""}
)

func normalise(s string, ns ...normaliser) string {
	for _, n := range ns {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// sortedLines is s with its lines sorted: the caches list in hash order.
func sortedLines(s string) string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

// result is what a command gave.
type result struct {
	stdout, stderr string
	code           int
}

func runCmd(c *exec.Cmd) result {
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return result{out.String(), errb.String(), code}
}

// side is one daemon under test and how to run its client.
type side struct {
	name string
	ns   *netnstest.NetNS
	conf string
	cmd  func(args ...string) *exec.Cmd
}

func (s *side) run(args ...string) result {
	return runCmd(s.cmd(append([]string{"-C", s.conf}, args...)...))
}

// conntrackFlows are inserted in both namespaces (198.18.0.0/15 and
// 2001:db8::/32, synthetic: no traffic).
var conntrackFlows = [][]string{
	{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "80", "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED", "-m", "3"},
	{"-p", "udp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "1000", "--dport", "53"},
	{"-p", "icmp", "-s", "198.18.0.1", "-d", "198.18.0.3", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "77"},
	{"-p", "tcp", "-s", "198.18.0.5", "-d", "198.18.0.6", "--sport", "2000", "--dport", "22", "--state", "SYN_SENT"},
}

// ftfwConf is the configuration of the main session: FT-FW over UDP on
// lo, toward a peer that is not there.
func ftfwConf(dir string) string {
	return `Sync {
	Mode FTFW {
	}
	UDP {
		IPv4_address 127.0.0.1
		IPv4_Destination_Address 127.0.0.2
		Port 3780
		Interface lo
	}
}
` + legacyd.General(legacyd.FilesIn(dir), "")
}

// pair is conntrackd 1.4.7 and ctsync, each in a namespace of its own
// with the same flows, started from the same configuration.
type pair struct {
	legacy, ours *side
	legacyD      *legacyd.Daemon
	oursFiles    legacyd.Files
}

func startPair(t *testing.T, conf func(dir string) string) *pair {
	netnstest.RequirePrivileged(t)
	legacyd.Require(t)
	if testing.Short() {
		t.Skip("starts two daemons")
	}

	// The ctsync side: this test binary, run through a symlink named
	// conntrackd (TestMain), found first in $PATH.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, legacyName)); err != nil {
		t.Fatal(err)
	}
	ourPath := "PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH")

	setup := func() *netnstest.NetNS {
		ns := netnstest.NewNetNS(t)
		ns.Exec(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_events=1")
		ns.SetLink(t, "lo", "up")
		for _, f := range conntrackFlows {
			ns.Exec(t, "conntrack", append([]string{"-I", "-t", "300"}, f...)...)
		}
		return ns
	}
	legacyNS, oursNS := setup(), setup()

	p := &pair{}
	ldir := filepath.Join(t.TempDir(), "conntrackd")
	p.legacy = &side{name: "conntrackd", ns: legacyNS, conf: filepath.Join(ldir, "conntrackd.conf"),
		cmd: func(args ...string) *exec.Cmd { return legacyNS.Command(legacyd.Command, args...) }}
	p.legacyD = legacyd.Start(t, legacyNS, "conntrackd", legacyd.FilesIn(ldir), conf(ldir))

	odir := filepath.Join(t.TempDir(), "ctsync")
	if err := os.MkdirAll(odir, 0o700); err != nil {
		t.Fatal(err)
	}
	p.oursFiles = legacyd.FilesIn(odir)
	p.ours = &side{name: "ctsync", ns: oursNS, conf: p.oursFiles.Conf,
		cmd: func(args ...string) *exec.Cmd {
			return oursNS.Command("env", append([]string{ourPath, legacyName}, args...)...)
		}}
	if err := os.WriteFile(p.ours.conf, []byte(conf(odir)), 0o600); err != nil {
		t.Fatal(err)
	}
	// -d: back once the daemon serves.
	if r := p.ours.run("-d"); r.code != 0 || r.stdout != "" {
		t.Fatalf("ctsync conntrackd -d: status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() {
		stopOurs(t, p.ours, p.oursFiles)
		if t.Failed() {
			b, _ := os.ReadFile(p.oursFiles.LogFile)
			t.Logf("ctsync's log:\n%s", b)
		}
	})
	return p
}

func TestLegacyDifferential(t *testing.T) {
	p := startPair(t, ftfwConf)
	legacy, ours := p.legacy, p.ours
	ldir, odir := p.legacyD.Dir, p.oursFiles.Dir

	// Both caches fill from the kernel at start; wait until they hold
	// every flow.
	waitLines(t, legacy, len(conntrackFlows), "-i")
	waitLines(t, ours, len(conntrackFlows), "-i")

	// Each step: the arguments, the normalisers of its known
	// differences, and whether its lines come in cache order.
	steps := []struct {
		args   string
		norm   []normaliser
		sorted bool
		wait   int // before comparing, wait until -i lists this many
		// ours is a known difference (docs/compat.md): what ctsync
		// prints on standard error instead of conntrackd's nothing, or
		// "empty" when ctsync prints nothing where conntrackd prints.
		ours string
	}{
		{args: "-i", norm: []normaliser{activeSince}, sorted: true},
		{args: "-i ct", norm: []normaliser{activeSince}, sorted: true},
		{args: "-i -x", norm: []normaliser{xmlID}, sorted: true},
		{args: "-e"},
		{args: "-e -x"},
		{args: "-s", norm: []normaliser{counters}},
		{args: "-s cache", norm: []normaliser{counters}},
		{args: "-s link", norm: []normaliser{counters}},
		{args: "-s network", norm: []normaliser{counters}},
		{args: "-s runtime", norm: []normaliser{counters}},
		{args: "-s rsqueue", norm: []normaliser{resendItems}},
		{args: "-s process"},
		{args: "-s queue", ours: "empty"},
		{args: "-s expect"},
		{args: "-i expect"},
		{args: "-e expect -x"},
		{args: "-c expect", ours: "[ERROR] -c: commit expect: expectations are not replicated (sync.expectations is off)\n"},
		{args: "-f internal"},
		{args: "-i", wait: 0},
		{args: "-R"},
		{args: "-i", norm: []normaliser{activeSince}, sorted: true, wait: len(conntrackFlows)},
		{args: "-c"},
		{args: "-c ct"},
		{args: "-f"},
		{args: "-f external"},
		{args: "-n"},
		{args: "-B"},
		{args: "-t"},
		{args: "-s foo"},
		{args: "-f foo"},
		{args: "-x"},
		{args: "-i -x -x"},
		{args: "-c -d"},
		{args: "-v"},
		{args: "-h"},
		{args: "--help"},
		{args: "-F"},
	}
	for _, st := range steps {
		args := strings.Fields(st.args)
		if st.wait > 0 {
			waitLines(t, legacy, st.wait, "-i")
			waitLines(t, ours, st.wait, "-i")
		}
		l, o := legacy.run(args...), ours.run(args...)
		norm := append([]normaliser{logPrefix}, st.norm...)
		lo, oo := normalise(l.stdout, norm...), normalise(o.stdout, norm...)
		if st.sorted {
			lo, oo = sortedLines(lo), sortedLines(oo)
		}
		le, oe := normalise(l.stderr, logPrefix), normalise(o.stderr, logPrefix)
		switch {
		case st.ours == "empty" && oo == "" && lo != "":
			t.Logf("conntrackd %s: known difference: ctsync prints nothing, conntrackd:\n%s", st.args, l.stdout)
			continue
		case st.ours != "" && st.ours != "empty" && oe == st.ours:
			oe = le
		}
		if l.code != o.code || lo != oo || le != oe {
			t.Errorf("conntrackd %s:\nconntrackd 1.4.7: status %d\n%s%s\nctsync: status %d\n%s%s", st.args, l.code, lo, le, o.code, oo, oe)
		} else {
			t.Logf("conntrackd %s: the same (status %d, %d bytes of output)", st.args, l.code, len(l.stdout))
		}
	}

	// Reference defect F.1 item 1: after its one-step commit (HashSize
	// 8192) conntrackd refuses every flush; ctsync flushes, and logs what
	// conntrackd would have done.
	if !strings.Contains(p.legacyD.Output(), "ignoring flush command, commit still in progress") {
		t.Errorf("conntrackd did not refuse the flush after -c: has the defect gone?\n%s", p.legacyD.Output())
	}
	if b, _ := os.ReadFile(p.oursFiles.LogFile); !strings.Contains(string(b), "conntrackd 1.4.7 would have refused this flush after its one-step commit") {
		t.Errorf("ctsync's log does not say what conntrackd would have done with -f after -c:\n%s", b)
	}

	// -F flushed both kernel tables (the filter accepts every flow).
	for _, s := range []*side{legacy, ours} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := s.ns.Exec(t, "conntrack", "-L")
			if !strings.Contains(out, "src=") || time.Now().After(deadline) {
				if strings.Contains(out, "src=") {
					t.Errorf("%s: after -F the kernel still tracks:\n%s", s.name, out)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// -k: both stop; then nobody answers.
	for _, s := range []*side{legacy, ours} {
		if r := s.run("-k"); r.code != 0 || r.stdout != "" {
			t.Errorf("%s -k: status %d\n%s%s", s.name, r.code, r.stdout, r.stderr)
		}
	}
	waitGone(t, legacyd.FilesIn(ldir).Socket)
	waitGone(t, legacyd.FilesIn(odir).Socket)
	l, o := legacy.run("-s"), ours.run("-s")
	if l.code != 1 || o.code != 1 || normalise(l.stderr, logPrefix) != normalise(o.stderr, logPrefix) {
		t.Errorf("-s after -k: conntrackd status %d %q, ctsync status %d %q", l.code, l.stderr, o.code, o.stderr)
	}
}

// waitLines waits until the client's output for args has n lines.
func waitLines(t *testing.T, s *side, n int, args ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.run(args...)
		got := len(strings.Fields(strings.ReplaceAll(r.stdout, " ", "_")))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v: %d lines, want %d:\n%s%s", s.name, args, got, n, r.stdout, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitGone(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
	t.Errorf("%s still there", path)
}

// stopOurs stops ctsync's daemon if the test left it running: -k, then
// SIGKILL by the pid its lock file holds.
func stopOurs(t *testing.T, s *side, f legacyd.Files) {
	b, err := os.ReadFile(f.LockFile)
	if err != nil {
		return // stopped
	}
	s.run("-k")
	var pid int
	if _, err := fmt.Sscanf(string(b), "ctsync %d", &pid); err != nil || pid <= 1 {
		return
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	t.Logf("ctsync daemon %d did not stop on -k; killing it", pid)
	syscall.Kill(pid, syscall.SIGKILL)
}

// kernelFlows counts the flows of the kernel's table in ns.
func kernelFlows(t *testing.T, ns *netnstest.NetNS) int {
	return strings.Count(ns.Exec(t, "conntrack", "-L"), "src=") / 2
}

// Reference defect F.1 item 4: on a NOTRACK node without an internal
// cache, keepalived's script runs -f right after -c when it becomes
// primary, and conntrackd then deletes the kernel's table (the flows it
// has just taken over). ctsync leaves the kernel alone and says what
// conntrackd would have done; -f internal is refused, printed, status 0.
func TestLegacyDifferentialNoInternalCache(t *testing.T) {
	p := startPair(t, func(dir string) string {
		return `Sync {
	Mode NOTRACK {
		DisableInternalCache on
	}
	UDP {
		IPv4_address 127.0.0.1
		IPv4_Destination_Address 127.0.0.2
		Port 3780
		Interface lo
	}
}
` + legacyd.General(legacyd.FilesIn(dir), "")
	})
	n := len(conntrackFlows)
	// Without an internal cache, -i lists the kernel's table: both.
	waitLines(t, p.legacy, n, "-i")
	waitLines(t, p.ours, n, "-i")

	l, o := p.legacy.run("-f"), p.ours.run("-f")
	if l.code != 0 || o.code != 0 || l.stdout != "" || o.stdout != "" {
		t.Errorf("-f: conntrackd status %d %q, ctsync status %d %q", l.code, l.stdout, o.code, o.stdout)
	}
	deadline := time.Now().Add(5 * time.Second)
	for kernelFlows(t, p.legacy.ns) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := kernelFlows(t, p.legacy.ns); got != 0 {
		t.Errorf("conntrackd -f left %d kernel flows: has defect F.1 item 4 gone?", got)
	}
	if got := kernelFlows(t, p.ours.ns); got != n {
		t.Errorf("ctsync -f: %d kernel flows, want the %d there were", got, n)
	}
	if b, _ := os.ReadFile(p.oursFiles.LogFile); !strings.Contains(string(b), "conntrackd 1.4.7 would have deleted the kernel's table here") {
		t.Errorf("ctsync's log does not say what conntrackd would have done with -f:\n%s", b)
	}

	o = p.ours.run("-f", "internal")
	if o.code != 0 || !strings.Contains(o.stderr, "[ERROR] -f: flush: there is no internal cache") {
		t.Errorf("ctsync -f internal: status %d, stderr %q", o.code, o.stderr)
	}
	if got := kernelFlows(t, p.ours.ns); got != n {
		t.Errorf("ctsync -f internal: %d kernel flows, want %d", got, n)
	}
}
