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

// LockThread puts the calling goroutine's thread alone under the policy:
// the threads the runtime starts meanwhile (some asked for by the locked
// goroutine itself) keep the normal one, and once the goroutine has
// unlocked no real-time thread is left in the process, whichever thread
// it ran on (the main thread too, which the runtime never ends).
func TestLockThreadOnlyItsThread(t *testing.T) {
	netnstest.RequirePrivileged(t) // CAP_SYS_NICE
	tid := make(chan int)
	quit := make(chan struct{})
	ended := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(ended)
		unlock, err := LockThread(FIFO, 7)
		if err != nil {
			errc <- err
			close(tid)
			return
		}
		defer unlock()
		// Threads the runtime starts while this goroutine holds
		// its thread: started from here, they would inherit the
		// policy but for the runtime's template thread.
		stop := startThreads(3)
		defer stop()
		tid <- unix.Gettid()
		<-quit
	}()
	rt, ok := <-tid
	if !ok {
		t.Fatal(<-errc)
	}
	ths, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, th := range ths {
		switch {
		case th.TID == rt:
			seen = true
			if th.Policy != FIFO || th.Priority != 7 {
				t.Errorf("the locked thread %d: %s priority %d, want SCHED_FIFO priority 7", th.TID, th.Policy, th.Priority)
			}
		case th.Policy != Other:
			t.Errorf("thread %d: %s priority %d, want only the locked thread %d under a real-time policy", th.TID, th.Policy, th.Priority, rt)
		}
	}
	if !seen {
		t.Errorf("the locked thread %d is not among the process's threads", rt)
	}
	if len(ths) < 5 {
		t.Errorf("%d threads, want at least 5 (the locked one, 3 more, the test's)", len(ths))
	}
	close(quit)
	<-ended
	checkAll(t, Other, 0)
}

// A refused LockThread leaves the goroutine unlocked and its thread as it
// was; Probe reports the same refusal.
func TestLockThreadRefused(t *testing.T) {
	res := make(chan error, 1)
	go func() {
		_, err := LockThread(RR, 0)
		if err == nil {
			res <- errors.New("LockThread(RR, 0) succeeded")
			return
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			res <- err
			return
		}
		a, gerr := unix.SchedGetAttr(0, 0)
		if gerr != nil {
			res <- gerr
			return
		}
		if a.Policy != unix.SCHED_NORMAL {
			res <- errors.New("the thread was left under a real-time policy")
			return
		}
		res <- nil
	}()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if err := Probe(RR, 0); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		t.Errorf("Probe(RR, 0): %v, want EINVAL (or EPERM unprivileged)", err)
	}
	if err := Probe(Other, 1); err == nil || !strings.Contains(err.Error(), "not a real-time policy") {
		t.Errorf("Probe(Other, 1): %v, want not a real-time policy", err)
	}
	checkAll(t, Other, 0)
}
