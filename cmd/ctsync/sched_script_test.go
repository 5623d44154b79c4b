package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ctsync/ctsync/internal/rtsched"
)

// schedCmd is "sched LOCKFILE POLICY PRIORITY [COUNT]", about the daemon
// whose pid the lock file holds, as `chrt -p` would show for each of its
// threads. Without COUNT, every thread runs under POLICY (SCHED_RR,
// SCHED_FIFO, SCHED_OTHER) at PRIORITY, and there is more than one
// thread, so that "every" means something for a Go daemon. With COUNT,
// exactly COUNT threads do (the socket readers) and every other one runs
// under the normal scheduler, and there is at least one other.
func schedCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || (len(args) != 3 && len(args) != 4) {
		ts.Fatalf("usage: sched LOCKFILE POLICY PRIORITY [COUNT]")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), lockMarker))
	if err != nil {
		ts.Fatalf("sched: %s holds %q, not a ctsync pid", args[0], b)
	}
	prio, err := strconv.Atoi(args[2])
	ts.Check(err)
	ths, err := rtsched.Threads(pid)
	ts.Check(err)
	if len(ths) < 2 {
		ts.Fatalf("sched: pid %d has %d thread(s); a Go daemon has several", pid, len(ths))
	}
	if len(args) == 3 {
		for _, th := range ths {
			if th.Policy.String() != args[1] || th.Priority != prio {
				ts.Fatalf("sched: thread %d of pid %d runs %s priority %d, want %s priority %d", th.TID, pid, th.Policy, th.Priority, args[1], prio)
			}
		}
		ts.Logf("sched: %d threads of pid %d run %s priority %d", len(ths), pid, args[1], prio)
		return
	}
	count, err := strconv.Atoi(args[3])
	ts.Check(err)
	n := 0
	for _, th := range ths {
		switch {
		case th.Policy.String() == args[1] && th.Priority == prio:
			n++
		case th.Policy != rtsched.Other:
			ts.Fatalf("sched: thread %d of pid %d runs %s priority %d, want %s priority %d or the normal scheduler", th.TID, pid, th.Policy, th.Priority, args[1], prio)
		}
	}
	if n != count || n == len(ths) {
		ts.Fatalf("sched: %d of the %d threads of pid %d run %s priority %d, want %d and the others the normal scheduler", n, len(ths), pid, args[1], prio, count)
	}
	ts.Logf("sched: %d of the %d threads of pid %d run %s priority %d, the others the normal scheduler", n, len(ths), pid, args[1], prio)
}
