// Package legacyd runs the legacy conntrackd (1.4.7, Debian's package) for
// tests: in the foreground, in a network namespace, with its files in a
// directory of the test's, stopped when the test ends. The interop tests
// (link/interop) and the two-firewall lab (internal/lab) use it to run the
// daemon that ctsync is compared with.
package legacyd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Command is the name of the daemon's command, which is also its client.
const Command = "conntrackd"

// startTimeout bounds the wait for a started daemon's control socket.
const startTimeout = 5 * time.Second

// Commander makes commands that run where the daemon runs: a network
// namespace such as netnstest.NetNS or a lab node.
type Commander interface {
	Command(name string, args ...string) *exec.Cmd
}

// T is the part of testing.TB this package uses: *testing.T satisfies it,
// and so does any netnstest.T (the `ctsync lab` demo's runner).
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// Files are the paths of one daemon's files, all in Dir.
type Files struct {
	Dir      string
	Conf     string // the configuration file
	LogFile  string
	LockFile string
	Socket   string // the control socket, UNIX Path
}

// FilesIn names the files of a daemon in dir.
func FilesIn(dir string) Files {
	return Files{
		Dir:      dir,
		Conf:     filepath.Join(dir, "conntrackd.conf"),
		LogFile:  filepath.Join(dir, "conntrackd.log"),
		LockFile: filepath.Join(dir, "lock"),
		Socket:   filepath.Join(dir, "ctl.sock"),
	}
}

// General is the General section of a test daemon: no systemd or syslog,
// its files in f, room in the event socket for bursts, and the directives
// in extra (a Filter block, NetlinkEventsReliable, ...).
func General(f Files, extra string) string {
	return fmt.Sprintf(`General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile %s
	Syslog off
	LockFile %s
	UNIX { Path %s }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
%s}
`, f.LogFile, f.LockFile, f.Socket, extra)
}

// Require skips the test when conntrackd is not installed, and fails it
// under CI, so that a broken runner does not pass silently.
func Require(t T) {
	t.Helper()
	if _, err := exec.LookPath(Command); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s command (Debian package conntrackd)", Command)
		}
		t.Skipf("skipping: no %s command (Debian package conntrackd)", Command)
	}
}

// Daemon is a running conntrackd.
type Daemon struct {
	Files
	name string // where it runs, for messages
	ns   Commander
	out  lockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// Start writes conf to f.Conf (creating f.Dir), starts conntrackd on it
// through ns and waits until it answers on its control socket. name says
// where it runs, in messages. The daemon is stopped when the test ends,
// and its output shown if the test failed.
func Start(t T, ns Commander, name string, f Files, conf string) *Daemon {
	t.Helper()
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.WriteFile(f.Conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	d := &Daemon{Files: f, name: name, ns: ns, done: make(chan struct{})}
	// No -d: in the foreground ("console mode") this process is the
	// daemon, and can be stopped by its id; it also logs to its output.
	d.cmd = ns.Command(Command, "-C", f.Conf)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start conntrackd on %s: %v", name, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("conntrackd on %s (%s) output:\n%s", name, f.Conf, d.out.String())
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-d.done:
			t.Fatalf("conntrackd on %s exited at start-up:\n%s", name, d.out.String())
		default:
		}
		out, err := d.Ctl("-s")
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("conntrackd on %s does not answer on its control socket after %v: %v\n%s", name, startTimeout, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ctl runs a conntrackd client command (-s, -c, -f, -e ct, -i, ...)
// against d.
func (d *Daemon) Ctl(args ...string) (string, error) {
	out, err := d.ns.Command(Command, append([]string{"-C", d.Conf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("conntrackd %s on %s: %w: %s", strings.Join(args, " "), d.name, err, out)
	}
	return string(out), nil
}

// MustCtl is Ctl failing the test on error.
func (d *Daemon) MustCtl(t T, args ...string) string {
	t.Helper()
	out, err := d.Ctl(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Pid is the daemon's process id: Start runs it in the foreground through
// an exec (`ip netns exec` replaces itself with it), so the process started
// is conntrackd's own, and /proc/PID tells its CPU time and memory.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Output returns what the daemon wrote to its standard output and error.
func (d *Daemon) Output() string { return d.out.String() }

// Log returns what the daemon wrote to its log file so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.LogFile)
	return string(b)
}

// Stop shuts the daemon down as an operator would (-k), and kills it if
// that does not work within 3 seconds. It returns once the process is
// gone; stopping a stopped daemon does nothing.
func (d *Daemon) Stop() {
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

// lockedBuffer collects the daemon's output, written by exec's copying
// goroutines while tests read it.
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
