package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/cttsuite"
	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// conntrack-tools' own conntrackd test suite (tests/conntrackd, see
// internal/cttsuite) is a Python runner that takes the daemon from
// $CONNTRACKD and runs, per test, a scenario's start commands, the
// test's commands and the scenario's stop commands, all as root and with
// fixed names: namespaces ns1, ns2, nsr1, nsr2, files in /tmp, control
// sockets and lock files in /var/run and /var/lock, logs in /var/log,
// some daemons in the namespace it runs in. Each test runs here in a
// sandbox of its own, so that none of that touches this machine or
// another test: new mount, network and PID namespaces, with /run (hence
// /var/run, /var/lock and the namespace names under /run/netns), /tmp
// and /var/log private to it. When the runner exits, the sandbox's first
// process exits and the kernel kills whatever the test left running.

// cttoolsSandboxEnv, set to a sandboxSpec in JSON, makes the test binary
// the sandbox's first process (init, below).
const cttoolsSandboxEnv = "CTSYNC_CTTOOLS_SANDBOX"

// sandboxSuite is where the suite and ctsync are in the sandbox: under
// its private /run, since its /tmp hides the test's temporary directory.
const sandboxSuite = "/run/ctsync-cttools"

// cttoolsTestTimeout bounds one test of the suite: its own waits are
// 5 s each, and ctsync runs under the race detector too.
const cttoolsTestTimeout = 2 * time.Minute

// The sandbox is this test binary run again (as the "ctsync" testscript
// puts in $PATH) with cttoolsSandboxEnv set: it takes over before
// TestMain, and so before testscript would run ctsync's command line.
func init() {
	if spec := os.Getenv(cttoolsSandboxEnv); spec != "" {
		os.Exit(cttoolsSandbox(spec))
	}
}

type sandboxSpec struct {
	Root string   // the host directory that becomes sandboxSuite
	Work string   // the host directory that holds the sandbox's tmp and log
	Dir  string   // the runner's directory, in the sandbox
	Args []string // the runner's arguments, after python
	Env  []string // added to the runner's environment
}

// TestConntrackToolsSuite runs every test of conntrack-tools' own
// conntrackd suite (release cttsuite.Version, addresses moved to the
// documentation ranges), first against conntrackd itself, the reference,
// then against ctsync invoked as conntrackd, each a subtest by the
// suite's name for it.
func TestConntrackToolsSuite(t *testing.T) {
	netnstest.RequirePrivileged(t)
	requirePython(t)
	root := t.TempDir()
	suite, err := cttsuite.Get(context.Background(), filepath.Join(root, "suite"))
	if errors.Is(err, cttsuite.ErrUnavailable) {
		// Skipped even under CI, unlike the other privileged tests: the
		// suite comes from the network (never from the repository), and
		// a CI machine whose network reaches neither netfilter.org nor
		// a copy cannot run it whatever it installs. The skip says how
		// to provide one (CTSYNC_CTTOOLS_SRC).
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conntrack-tools %s's suite from %s: %d tests", cttsuite.Version, suite.From, len(suite.Tests))
	conntrack, err := exec.LookPath("conntrack")
	if err != nil {
		t.Fatalf("the suite's tests list the kernel's table with conntrack: %v", err)
	}
	// The sandbox's first process is this test binary, through the
	// copy testscript.Main put in $PATH.
	self, err := exec.LookPath("ctsync")
	if err != nil {
		t.Fatal(err)
	}
	installConntrackd(t, filepath.Join(root, "bin"))

	daemons := []struct {
		name string
		path func(t *testing.T) string // $CONNTRACKD, in the sandbox
	}{
		{"conntrackd", func(t *testing.T) string {
			legacyd.Require(t)
			p, err := exec.LookPath(legacyd.Command)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"ctsync", func(*testing.T) string { return sandboxSuite + "/bin/" + legacyName }},
	}
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			daemon := d.path(t)
			for _, name := range suite.Tests {
				t.Run(name, func(t *testing.T) {
					spec := sandboxSpec{
						Root: root,
						Work: t.TempDir(),
						Dir:  sandboxSuite + "/suite",
						Args: []string{cttsuite.Runner, "--debug", "--single", name},
						Env:  []string{"CONNTRACKD=" + daemon, "CONNTRACK=" + conntrack},
					}
					runSuiteTest(t, self, spec, name)
				})
			}
		})
	}
}

// debianPython runs the suite's runner: Debian's Python, where Debian's
// python3-yaml puts the yaml module it imports ($PATH may lead to
// another Python, without it).
const debianPython = "/usr/bin/python3"

// requirePython skips t, or fails it under CI, when debianPython cannot
// import yaml.
func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import yaml").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("conntrack-tools' runner needs %s with its yaml module (Debian packages python3, python3-yaml): %v: %s", debianPython, err, out)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
}

// installConntrackd puts ctsync in dir as "conntrackd": a copy of this
// test binary (TestMain runs ctsync's legacy command line under that
// name), since the sandbox's /tmp hides where the binary is built.
func installConntrackd(t *testing.T, dir string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "ctsync")
	if err := os.Link(exe, dst); err != nil {
		if err := copyExecutable(exe, dst); err != nil {
			t.Fatal(err)
		}
	}
	// Relative, so it resolves wherever dir is mounted.
	if err := os.Symlink("ctsync", filepath.Join(dir, legacyName)); err != nil {
		t.Fatal(err)
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runSuiteTest runs one test of the suite in a sandbox and fails t unless
// the runner reports it passed. The runner of this release exits 0 either
// way: its report line is the verdict.
func runSuiteTest(t *testing.T, self string, spec sandboxSpec, name string) {
	for _, d := range []string{"tmp", "log"} {
		if err := os.Mkdir(filepath.Join(spec.Work, d), 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cttoolsTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), cttoolsSandboxEnv+"="+string(js))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWPID,
		// The sandbox, and so all it runs, dies with this test.
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	passed := strings.Contains(out.String(), "--- passed test: "+name+"\n")
	switch {
	case ctx.Err() != nil:
		t.Errorf("the test did not finish in %v", cttoolsTestTimeout)
	case err != nil:
		t.Errorf("the sandbox: %v", err)
	case !passed:
		t.Errorf("the runner does not report %q passed", name)
	}
	if t.Failed() {
		t.Logf("runner output:\n%s", out.String())
		logs, _ := filepath.Glob(filepath.Join(spec.Work, "log", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), b)
		}
	}
}

// cttoolsSandbox is the sandbox's first process, in new mount, network
// and PID namespaces: it makes the private directories, starts the
// runner, reaps every process the test leaves to it, and exits with the
// runner's status.
func cttoolsSandbox(specJSON string) int {
	var spec sandboxSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", cttoolsSandboxEnv, err)
		return 2
	}
	if err := sandboxSetup(spec); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return 2
	}
	os.Unsetenv(cttoolsSandboxEnv)
	pid, err := syscall.ForkExec(debianPython, append([]string{debianPython}, spec.Args...), &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   append(os.Environ(), spec.Env...),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: starting %s: %v\n", debianPython, err)
		return 2
	}
	// Daemons started with -d become this process's children when
	// their parent exits; they are reaped here until the runner ends.
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: wait: %v\n", err)
			return 2
		}
		if wpid == pid {
			if ws.Exited() {
				return ws.ExitStatus()
			}
			fmt.Fprintf(os.Stderr, "sandbox: the runner ended: %v\n", ws.Signal())
			return 2
		}
	}
}

func sandboxSetup(spec sandboxSpec) error {
	type mount struct {
		src, dst, fstype, data string
		flags                  uintptr
	}
	mounts := []mount{
		// Nothing mounted here propagates to the host.
		{"", "/", "", "", unix.MS_REC | unix.MS_PRIVATE},
		{"tmpfs", "/run", "tmpfs", "mode=755", unix.MS_NOSUID | unix.MS_NODEV},
		{spec.Root, sandboxSuite, "", "", unix.MS_BIND | unix.MS_REC},
		{filepath.Join(spec.Work, "log"), "/var/log", "", "", unix.MS_BIND},
		// Last: the host directories above are under the host's /tmp.
		{filepath.Join(spec.Work, "tmp"), "/tmp", "", "", unix.MS_BIND},
		// This PID namespace's processes, for the tools that look there.
		{"proc", "/proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	}
	for _, m := range mounts {
		if m.dst == sandboxSuite {
			// /run is the new tmpfs by now; /var/lock is /run/lock.
			for _, d := range []string{sandboxSuite, "/run/lock"} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.src, m.dst, err)
		}
	}
	// The suite's later releases bring lo up themselves (a test runs a
	// daemon whose sync link is on lo, in the runner's namespace).
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	// Kernel conntrack events here too, as in the scenario's namespaces
	// (cttsuite's edit). Listing the table loads conntrack if needed.
	if out, err := exec.Command("conntrack", "-C").CombinedOutput(); err != nil {
		return fmt.Errorf("conntrack -C: %v: %s", err, out)
	}
	return os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_events", []byte("1"), 0)
}
