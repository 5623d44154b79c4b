//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

// daemon is a `ctsync daemon` process on a lab firewall.
type daemon struct {
	bin    string
	fw     *lab.Node
	conf   string
	dir    string
	socket string
	cmd    *exec.Cmd
	waited chan error
}

// config is ctsync's configuration on a firewall: FT-FW over UDP on the
// sync link, with caches and buffers sized for n entries as conntrackd's
// (legacyConf): cache limits of 2n + 65536, sync socket buffers of 24
// MB, an event socket buffer of 32 MiB allowed to grow to 128 MiB (with
// 2 MiB, the burst overruns it, and the resync that repairs that 30 s
// later sends every entry twice), and the lab's own addresses ignored.
func config(dir string, fw, peer *lab.Node, n int) string {
	return fmt.Sprintf(`daemon {
  lock_file = %[1]q
  systemd   = false
}
log {
  file = %[2]q
}
control {
  path = %[3]q
}
netlink {
  buffer_size            = "32MiB"
  buffer_size_max_growth = "128MiB"
}
filter {
  stage "address" {
    ignore = ["127.0.0.1", "::1", "198.51.100.128/25", "2001:db8:3::/64"]
  }
}
cache "internal" {
  size  = 65536
  limit = %[8]d
}
cache "external" {
  size  = 65536
  limit = %[8]d
}
sync "ftfw" {
}
link "sync" {
  transport      = "udp"
  interface      = %[4]q
  local          = %[5]q
  peer           = %[6]q
  port           = %[7]d
  send_buffer    = "24MiB"
  receive_buffer = "24MiB"
}
`, filepath.Join(dir, "ctsync.lock"), filepath.Join(dir, "ctsync.log"), filepath.Join(dir, "ctsync.ctl"),
		fw.Sync, fw.SyncAddrs[0].Addr(), peer.SyncAddrs[0].Addr(), lab.SyncPort, 2*n+65536)
}

// startDaemon writes fw's configuration and runs `ctsync daemon` on it
// until the run's cleanups stop it.
func startDaemon(t *tb, bin string, fw, peer *lab.Node, n int) *daemon {
	dir := t.TempDir()
	d := &daemon{bin: bin, fw: fw, dir: dir, conf: filepath.Join(dir, "ctsync.hcl"), socket: filepath.Join(dir, "ctsync.ctl")}
	if err := os.WriteFile(d.conf, []byte(config(dir, fw, peer, n)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	t.Cleanup(func() { d.stop(t) })
	return d
}

// start runs the daemon and waits until it answers on its control
// socket.
func (d *daemon) start(t *tb) {
	d.waited = make(chan error, 1)
	// `ip netns exec` execs the daemon: the process is the daemon's own,
	// so /proc/PID tells its CPU and memory.
	d.cmd = d.fw.Command(d.bin, "daemon", d.conf)
	// Kept (keep) for a diagnosis: a panic, or the goroutine dump a
	// SIGQUIT sent by hand to a stuck daemon writes.
	if f, err := os.OpenFile(filepath.Join(d.dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		d.cmd.Stderr = f
		defer f.Close() // the daemon has its own copy once started
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.waited <- d.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := d.ctl("stats")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's daemon does not serve after 10s: %v\n%s", d.fw.Role, err, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the daemon with SIGTERM, as an operator would.
func (d *daemon) stop(t *tb) {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.waited:
		if err != nil {
			t.Errorf("%s: ctsync daemon after SIGTERM: %v\n%s", d.fw.Role, err, d.log())
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.waited
		t.Errorf("%s: ctsync daemon still running 30s after SIGTERM", d.fw.Role)
	}
	d.cmd = nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "ctsync.log"))
	return string(b)
}

// ctl runs a client command against the daemon and returns its output.
func (d *daemon) ctl(args ...string) (string, error) {
	select {
	case err := <-d.waited:
		d.waited <- err
		return "", fmt.Errorf("the daemon exited: %v", err)
	default:
	}
	cmd := d.fw.Command(d.bin, append(args, "--socket", d.socket)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctsync %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (d *daemon) mustCtl(t *tb, args ...string) string {
	out, err := d.ctl(args...)
	if err != nil {
		t.Fatalf("%s: %v", d.fw.Role, err)
	}
	return out
}

// stats are the counters the figures read, as `ctsync stats --format
// json` names them (docs/control.md).
type stats struct {
	Caches struct {
		Internal, External struct {
			Active uint64 `json:"active"`
		}
	} `json:"caches"`
	Ingest struct {
		Overruns uint64 `json:"overruns"`
	} `json:"ingest"`
	Sync struct {
		Datagrams uint64 `json:"datagrams"`
		Applied   uint64 `json:"applied"`
	} `json:"sync"`
	ResendQueue struct {
		Len int `json:"len"`
	} `json:"resend_queue"`
}

func (d *daemon) stats(t *tb) stats {
	var s stats
	if err := json.Unmarshal([]byte(d.mustCtl(t, "stats", "--format", "json")), &s); err != nil {
		t.Fatalf("%s: ctsync stats --format json: %v", d.fw.Role, err)
	}
	return s
}

// keep writes the daemon's log, current stats and standard error to
// name.log, name.json and name.stderr, for a diagnosis after the run.
func (d *daemon) keep(name string) {
	os.WriteFile(name+".log", []byte(d.log()), 0o644)
	if out, err := d.ctl("stats", "--format", "json"); err == nil {
		os.WriteFile(name+".json", []byte(out), 0o644)
	}
	if b, err := os.ReadFile(filepath.Join(d.dir, "stderr")); err == nil {
		os.WriteFile(name+".stderr", b, 0o644)
	}
}
