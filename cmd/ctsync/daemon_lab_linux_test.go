package main

import (
	"encoding/json"
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
)

// labDaemon is a `ctsync daemon` process on a lab firewall, with its files
// in a directory of the test's.
type labDaemon struct {
	fw     *lab.Node
	dir    string
	socket string
	cmd    *exec.Cmd
	waited chan error
}

// labHCL is a firewall's configuration: the lab's (lab.CtsyncConfigWith),
// the given mode over UDP sized for a burst of 100k flows, with the
// daemon's own files in dir.
func labHCL(dir string, l *lab.Lab, fw *lab.Node, mode string) string {
	return fmt.Sprintf(`daemon {
  lock_file = %q
  systemd   = false
}
log {
  file = %q
}
control {
  path = %q
}
`, filepath.Join(dir, "ctsync.lock"), filepath.Join(dir, "ctsync.log"), filepath.Join(dir, "ctsync.ctl")) +
		l.CtsyncConfigWith(fw, lab.CtsyncOptions{Mode: mode, Transport: "udp", Burst: true})
}

// startDaemon runs `ctsync daemon` on fw until the test ends, and then
// checks that SIGTERM stops it cleanly. extra is added to its
// configuration.
func startDaemon(t *testing.T, l *lab.Lab, fw *lab.Node, mode string, extra ...string) *labDaemon {
	t.Helper()
	dir := t.TempDir()
	return launchDaemon(t, fw, dir, labHCL(dir, l, fw, mode)+strings.Join(extra, ""))
}

// launchDaemon writes hcl, a configuration whose daemon files are in dir
// (labHCL), and runs `ctsync daemon` on it as startDaemon says.
func launchDaemon(t *testing.T, fw *lab.Node, dir, hcl string) *labDaemon {
	t.Helper()
	conf := filepath.Join(dir, "ctsync.hcl")
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &labDaemon{fw: fw, dir: dir, socket: filepath.Join(dir, "ctsync.ctl"), waited: make(chan error, 1)}
	d.cmd = fw.Command("ctsync", "daemon", conf)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.waited:
			if err != nil {
				t.Errorf("%s: ctsync daemon after SIGTERM: %v\n%s", fw.Role, err, d.log())
			}
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			t.Errorf("%s: ctsync daemon still running 10s after SIGTERM\n%s", fw.Role, d.log())
		}
		if _, err := os.Stat(filepath.Join(dir, "ctsync.lock")); err == nil {
			t.Errorf("%s: the lock file outlived the daemon", fw.Role)
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", fw.Role, d.log())
		}
	})
	lab.Eventually(t, 10*time.Second, string(fw.Role)+"'s daemon to serve", func() (bool, string) {
		_, err := d.ctl("stats")
		return err == nil, fmt.Sprint(err)
	})
	return d
}

func (d *labDaemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "ctsync.log"))
	return string(b)
}

// ctl runs a client command against the daemon and returns its output.
func (d *labDaemon) ctl(args ...string) (string, error) {
	select {
	case err := <-d.waited:
		d.waited <- err
		return "", fmt.Errorf("the daemon exited: %v", err)
	default:
	}
	cmd := d.fw.Command("ctsync", append(args, "--socket", d.socket)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctsync %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// ctlProgress runs a client command that must succeed and returns its
// stderr, where its progress goes.
func (d *labDaemon) ctlProgress(t *testing.T, args ...string) string {
	t.Helper()
	cmd := d.fw.Command("ctsync", append(args, "--socket", d.socket)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ctsync %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stderr.String()
}

// checkProgress checks the progress a client printed to a pipe: plain
// lines, without a carriage return, ending stage with at least n items
// done of as many.
func checkProgress(t *testing.T, stage, out string, n int) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + stage + `: (\d+)/(\d+) \(100%\) \d+/s, took \d[0-9.]*m?s$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || strings.Contains(out, "\r") {
		t.Fatalf("%s's progress: want plain lines ending with %s: N/N (100%%), got:\n%q", stage, stage, out)
	}
	if done, _ := strconv.Atoi(m[1]); done < n {
		t.Errorf("%s's progress ends at %d, want at least %d:\n%s", stage, done, n, out)
	}
	t.Logf("%s's progress: %q", stage, out)
}

func (d *labDaemon) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.ctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stats reads the daemon's counters as `ctsync stats --format json` gives
// them.
func (d *labDaemon) stats(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(d.mustCtl(t, "stats", "--format", "json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// number follows a path of keys through decoded JSON.
func number(m map[string]any, path ...string) int {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return -1
		}
		v = o[k]
	}
	f, ok := v.(float64)
	if !ok {
		return -1
	}
	return int(f)
}

// TestLabDaemons is issue 8's "done": two `ctsync daemon`s with HCL
// configurations sync 100k flows (CTSYNC_SCALE_FLOWS) in each mode, the
// client commands commit them into the backup's kernel and flush, and the
// daemons stop cleanly. Garbage on the sync port and the control socket
// is TestLabFaultGarbage's.
func TestLabDaemons(t *testing.T) {
	n := 100000
	if s := os.Getenv("CTSYNC_SCALE_FLOWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 || n > lab.MaxFill {
			t.Fatalf("CTSYNC_SCALE_FLOWS=%q: want 2 to %d", s, lab.MaxFill)
		}
	}
	if testing.Short() {
		n = 5000
	}
	for _, mode := range []string{"ftfw", "notrack", "alarm"} {
		t.Run(mode, func(t *testing.T) {
			l := lab.New(t, lab.Options{})
			fw1 := startDaemon(t, l, l.FW1, mode)
			fw2 := startDaemon(t, l, l.FW2, mode)
			l.FW1.Fill(t, n)
			lab.Eventually(t, 60*time.Second, fmt.Sprintf("%d flows in fw2's external cache", n), func() (bool, string) {
				s := fw2.stats(t)
				got := number(s, "caches", "external", "active")
				return got >= n, fmt.Sprintf("fw2 external: %d; fw1 internal: %d", got, number(fw1.stats(t), "caches", "internal", "active"))
			})
			if lines := strings.Count(fw2.mustCtl(t, "dump", "external"), "\n"); lines != n {
				t.Fatalf("ctsync dump external lists %d flows, want %d", lines, n)
			}
			start := time.Now()
			progress := fw2.ctlProgress(t, "commit")
			took := time.Since(start)
			// stderr is a pipe: plain progress lines, the commit's
			// end with its count among them.
			checkProgress(t, "commit", progress, n)
			if got := l.FW2.Count(t); got < n {
				t.Fatalf("fw2's kernel tracks %d flows after ctsync commit, want %d", got, n)
			}
			t.Logf("%s: ctsync commit of %d flows took %v (%.0f flows/s), client included", mode, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
			if mode == "ftfw" {
				reloadLog(t, fw2, n)
			}
			fw2.mustCtl(t, "flush")
			// ALARM's refreshes keep coming: the cache fills again, but
			// not at once.
			out := fw2.mustCtl(t, "dump", "external")
			if lines := strings.Count(out, "\n"); (mode == "alarm" && lines > n/2) || (mode != "alarm" && lines != 0) {
				t.Fatalf("the external cache holds %d flows after ctsync flush:\n%.300s", lines, out)
			}
			if mode == "ftfw" {
				// Last: fw1 may send what its dump changes.
				checkProgress(t, "kernel dump", fw1.ctlProgress(t, "resync", "--kernel"), n)
			}
		})
	}
}

// reloadLog moves d's log to another file with `ctsync reload`: the new
// file takes the log, and the external cache keeps its n flows.
func reloadLog(t *testing.T, d *labDaemon, n int) {
	t.Helper()
	conf := filepath.Join(d.dir, "ctsync.hcl")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(d.dir, "moved.log")
	b = []byte(strings.Replace(string(b), filepath.Join(d.dir, "ctsync.log"), moved, 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d.mustCtl(t, "reload")
	got, err := os.ReadFile(moved)
	if err != nil || !strings.Contains(string(got), "configuration reloaded") {
		t.Fatalf("the log after ctsync reload: %v\n%s", err, got)
	}
	if got := number(d.stats(t), "caches", "external", "active"); got != n {
		t.Fatalf("the external cache holds %d flows after the reload, want %d", got, n)
	}
}
