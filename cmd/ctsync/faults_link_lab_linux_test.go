package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

// A sync peer killed and restarted mid-stream (issue 10): real `ctsync
// daemon` processes, one killed with SIGKILL (no clean-up: its lock file
// and control socket stay) while fw1 keeps creating, changing and
// destroying flows, then started again. Each test ends with fw1's
// internal cache and fw2's external cache compared (lab.DiffCaches).

// restartFlows is how many flows the stream creates; -short streams
// fewer.
func restartFlows() int {
	if testing.Short() {
		return 4000
	}
	return 20000
}

// kill stops d's process with SIGKILL and waits for it to be gone.
func (d *labDaemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("%s: SIGKILL: %v", d.fw.Role, err)
	}
	select {
	case <-d.waited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the daemon still runs 10s after SIGKILL", d.fw.Role)
	}
}

// restart starts d's daemon again on its configuration file, as
// systemd's Restart= would, after edit (nil: none) changed the file.
// The test's clean-up, which stops d.cmd, then stops the new process.
func (d *labDaemon) restart(t *testing.T, edit func(hcl string) string) {
	t.Helper()
	conf := filepath.Join(d.dir, "ctsync.hcl")
	if edit != nil {
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, []byte(edit(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.cmd = d.fw.Command("ctsync", "daemon", conf)
	d.waited = make(chan error, 1)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func(cmd *exec.Cmd, waited chan error) { waited <- cmd.Wait() }(d.cmd, d.waited)
	lab.Eventually(t, 15*time.Second, string(d.fw.Role)+"'s restarted daemon to serve", func() (bool, string) {
		_, err := d.ctl("stats")
		return err == nil, fmt.Sprint(err)
	})
}

// startupResync turns on the startup resync in a lab configuration.
func startupResync(hcl string) string {
	const purge = `purge_timeout = "1s"`
	if !strings.Contains(hcl, purge) {
		panic("the lab's sync block changed: " + purge + " is gone")
	}
	return strings.Replace(hcl, purge, purge+"\n  startup_resync = true", 1)
}

// cacheJSON lists one of d's caches as `ctsync dump CACHE --format json`
// prints it, one flow a line.
func (d *labDaemon) cacheJSON(t *testing.T, cache string) []string {
	t.Helper()
	out := d.mustCtl(t, "dump", cache, "--format", "json")
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// convergeDaemons waits, for at most limit, until fw2's external cache
// holds exactly fw1's flows and fw1 holds live flows, and returns how
// long that took. The lab's configuration leaves TCP window tracking off,
// so the window scales stay off the link.
func convergeDaemons(t *testing.T, fw1, fw2 *labDaemon, live int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		d, err := lab.DiffCaches(fw1.cacheJSON(t, "internal"), fw2.cacheJSON(t, "external"), "wscale_orig", "wscale_reply")
		if err != nil {
			t.Fatal(err)
		}
		if d.Empty() && d.Primary == live {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("after %v the caches still differ (want %d flows on the primary): %s", limit, live, d)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The backup's daemon killed and restarted while the primary goes on:
// the restarted daemon starts empty, asks for the primary's table
// (startup_resync, conntrackd's StartupResync) and ends with exactly the
// primary's flows, the ones created, changed and destroyed while it was
// down included, with no command from anyone.
func TestFaultPeerRestart(t *testing.T) {
	l := lab.New(t, lab.Options{})
	fw1 := startDaemon(t, l, l.FW1, "ftfw")
	fw2 := startDaemon(t, l, l.FW2, "ftfw")
	n := restartFlows()
	var bulks int
	var events []string
	live := l.FW1.Stream(t, n, func(chunk int) {
		switch chunk {
		case n / lab.StreamChunk / 4:
			fw2.kill(t)
			events = append(events, fmt.Sprintf("fw2 killed after chunk %d", chunk))
		case n / lab.StreamChunk / 2:
			bulks = number(fw1.stats(t), "sync", "bulks")
			fw2.restart(t, startupResync)
			events = append(events, fmt.Sprintf("fw2 restarted after chunk %d", chunk))
		}
	})
	if len(events) != 2 {
		t.Fatalf("the stream of %d flows did not reach the restart: %q", n, events)
	}
	took := convergeDaemons(t, fw1, fw2, live, 60*time.Second)
	if got := number(fw1.stats(t), "sync", "bulks") - bulks; got < 1 {
		t.Errorf("fw1 made %d bulk sends after fw2's restart: fw2 did not ask for a resync, or fw1 did not answer", got)
	}
	t.Logf("%s; %d flows streamed, %d live; fw2's external cache held exactly fw1's flows %v after the stream ended",
		strings.Join(events, ", "), n, live, took.Round(time.Millisecond))
}

// The primary's daemon killed and restarted while flows come and go: the
// restarted daemon reloads its kernel's table, but, as conntrackd does,
// it sends nothing of it unprompted (a dump is not an event) and its peer
// cannot tell what changed meanwhile. An operator's `ctsync bulk` (what
// keepalived's primary script runs, conntrackd -B) brings the backup
// every flow and its current mark; the flows destroyed while fw1 was down
// stay in fw2's external cache (a bulk send adds, it never deletes) until
// a flush, as in conntrackd. docs/faults.md says so.
func TestFaultPrimaryRestart(t *testing.T) {
	l := lab.New(t, lab.Options{})
	fw1 := startDaemon(t, l, l.FW1, "ftfw")
	fw2 := startDaemon(t, l, l.FW2, "ftfw")
	n := restartFlows()
	var events []string
	var downChunks int
	live := l.FW1.Stream(t, n, func(chunk int) {
		switch chunk {
		case n / lab.StreamChunk / 4:
			fw1.kill(t)
			events = append(events, fmt.Sprintf("fw1 killed after chunk %d", chunk))
		case n / lab.StreamChunk / 2:
			downChunks = chunk - n/lab.StreamChunk/4
			fw1.restart(t, nil)
			events = append(events, fmt.Sprintf("fw1 restarted after chunk %d", chunk))
		}
	})
	if len(events) != 2 {
		t.Fatalf("the stream of %d flows did not reach the restart: %q", n, events)
	}
	fw1.mustCtl(t, "bulk")
	// Each chunk destroys 50 flows of the one before (lab.Stream).
	maxStale := downChunks * 50
	start := time.Now()
	for {
		d, err := lab.DiffCaches(fw1.cacheJSON(t, "internal"), fw2.cacheJSON(t, "external"), "wscale_orig", "wscale_reply")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Missing) == 0 && len(d.Different) == 0 && d.Primary == live {
			if len(d.Extra) > maxStale {
				t.Errorf("fw2 holds %d flows fw1 does not, more than the %d destroyed while fw1 was down: %s", len(d.Extra), maxStale, d)
			}
			t.Logf("%s; %d flows streamed, %d live; after ctsync bulk on fw1, fw2 held every flow of fw1's, marks included, %v later, and %d destroyed while fw1 was down",
				strings.Join(events, ", "), n, live, time.Since(start).Round(time.Millisecond), len(d.Extra))
			return
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("60s after ctsync bulk on fw1 the caches still differ: %s", d)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
