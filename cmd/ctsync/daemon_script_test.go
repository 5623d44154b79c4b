package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// waitforCmd is "waitfor FILE [REGEXP]": wait up to 10 s for FILE to
// exist and, with REGEXP, to hold a match; "! waitfor FILE" waits for it
// to be gone. A daemon in the background gets ready, or stops, in its
// own time; a script polls rather than sleeps.
func waitforCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 || (neg && len(args) != 1) {
		ts.Fatalf("usage: [!] waitfor FILE [REGEXP]")
	}
	var re *regexp.Regexp
	if len(args) == 2 {
		re = regexp.MustCompile("(?m)" + args[1])
	}
	path := ts.MkAbs(args[0])
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if neg {
			if _, err := os.Lstat(path); os.IsNotExist(err) {
				return
			}
			continue
		}
		if err == nil && (re == nil || re.Match(b)) {
			return
		}
		if _, serr := os.Lstat(path); serr == nil && re == nil {
			return // a socket cannot be read, but it is there
		}
		last = string(b)
	}
	if neg {
		ts.Fatalf("%s still exists after 10s", args[0])
	}
	ts.Fatalf("waitfor %s %s: not within 10s; it holds:\n%s", args[0], strings.Join(args[1:], " "), last)
}

// envsubstCmd is "envsubst FILE": replace $NAME and ${NAME} in FILE by
// the script's environment, for files that cannot take a template
// variable (a legacy conntrackd.conf naming paths under $WORK).
func envsubstCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envsubst FILE")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, []byte(os.Expand(string(b), ts.Getenv)), 0o644))
}

// signalCmd is "signal NAME LOCKFILE": send SIGNAME (HUP, TERM, INT) to
// the daemon whose pid its lock file holds ("ctsync PID").
func signalCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal HUP|TERM|INT LOCKFILE")
	}
	sig := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}[args[0]]
	if sig == 0 {
		ts.Fatalf("signal: unknown signal %q", args[0])
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), lockMarker))
	if err != nil {
		ts.Fatalf("signal: %s holds %q, not a ctsync pid", args[1], b)
	}
	ts.Check(syscall.Kill(pid, sig))
}

// fifoWriters are the write ends "fifo open" holds, by absolute path.
var fifoWriters sync.Map

// fifoCmd is "fifo make|open|write|signal FIFO [FILE|SIGNAL]": make a named pipe; wait
// up to 10 s for a reader to block on it and open its write end; write
// FILE into it and close it. A configuration read from a FIFO holds the
// daemon at a known point of its start-up, which a script can then
// signal without racing it.
func fifoCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: fifo make|open|write FIFO [FILE]")
	}
	path := ts.MkAbs(args[1])
	switch {
	case args[0] == "make" && len(args) == 2:
		ts.Check(syscall.Mkfifo(path, 0o600))
	case args[0] == "open" && len(args) == 2:
		// A non-blocking open for writing fails with ENXIO until a
		// reader is in open(2), waiting for a writer.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				fifoWriters.Store(path, f)
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("fifo open %s: no reader within 10s: %v", args[1], err)
			}
		}
	case args[0] == "signal" && len(args) == 3:
		// testscript's kill knows INT and KILL only: the reader is
		// found as the other process with the FIFO open.
		sig := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM}[args[2]]
		if sig == 0 {
			ts.Fatalf("fifo signal: unknown signal %q", args[2])
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if pid := fifoReader(path); pid != 0 {
				ts.Check(syscall.Kill(pid, sig))
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("fifo signal %s: no process has it open", args[1])
			}
		}
	case args[0] == "write" && len(args) == 3:
		w, ok := fifoWriters.LoadAndDelete(path)
		if !ok {
			ts.Fatalf("fifo write %s: not opened", args[1])
		}
		f := w.(*os.File)
		_, err := f.Write([]byte(ts.ReadFile(args[2])))
		ts.Check(errors.Join(err, f.Close()))
	default:
		ts.Fatalf("usage: fifo make|open|write FIFO [FILE]")
	}
}

// fifoReader is the pid of a process other than this one with path open.
func fifoReader(path string) int {
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == path {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			if pid != os.Getpid() {
				return pid
			}
		}
	}
	return 0
}
