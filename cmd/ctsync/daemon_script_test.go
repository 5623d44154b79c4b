package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
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
