package rtsched

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// normal is the scheduling a test puts back.
var normal = &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}

// checkAll fails t unless every thread of this process runs policy at
// prio, and returns how many there are.
func checkAll(t *testing.T, policy Policy, prio int) int {
	t.Helper()
	ths, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range ths {
		if th.Policy != policy || th.Priority != prio {
			t.Errorf("thread %d: %s priority %d, want %s priority %d", th.TID, th.Policy, th.Priority, policy, prio)
		}
	}
	return len(ths)
}

// startThreads makes the runtime start n threads more (a goroutine
// locked to its thread keeps it) and returns the function that ends
// them.
func startThreads(n int) (stop func()) {
	var started, done sync.WaitGroup
	quit := make(chan struct{})
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // the thread exits with the goroutine
			started.Done()
			<-quit
		}()
	}
	started.Wait()
	return func() { close(quit); done.Wait() }
}

// Every thread of the process runs under the policy Set applied, also
// the threads the runtime starts afterwards (cloned from changed ones).
// The test puts this process back under the normal scheduler.
func TestSetWholeProcess(t *testing.T) {
	netnstest.RequirePrivileged(t) // CAP_SYS_NICE
	t.Cleanup(func() {
		if _, err := setAll(normal); err != nil {
			t.Errorf("putting the normal scheduler back: %v", err)
		}
	})
	stopBefore := startThreads(4)
	defer stopBefore()
	for _, c := range []struct {
		policy Policy
		prio   int
	}{{RR, 99}, {FIFO, 1}} {
		n, err := Set(c.policy, c.prio)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("Set(%s, %d) changed no thread", c.policy, c.prio)
		}
		if got := checkAll(t, c.policy, c.prio); got < 5 {
			t.Errorf("%d threads, want at least 5 (4 locked goroutines' and the test's)", got)
		}
		stopAfter := startThreads(4)
		checkAll(t, c.policy, c.prio)
		stopAfter()
	}
}

// A refused change leaves the process as it was: no thread is left under
// a policy the process as a whole did not get.
func TestSetRefusedUndoes(t *testing.T) {
	stop := startThreads(2)
	defer stop()
	_, err := Set(RR, 0)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		t.Fatalf("Set(RR, 0): %v, want EINVAL (or EPERM unprivileged)", err)
	}
	checkAll(t, Other, 0)
}

// Set takes only the real-time policies and their priorities.
func TestSetRejectsArguments(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		prio int
		want string
	}{
		{Other, 1, "not a real-time policy"},
		{RR, 100, "out of range"},
		{FIFO, -1, "out of range"},
	} {
		if _, err := Set(c.p, c.prio); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%s, %d): %v, want %q", c.p, c.prio, err, c.want)
		}
	}
}
