package rtsched

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

func attr(policy Policy, priority int) (*unix.SchedAttr, error) {
	a := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Priority: uint32(priority)}
	switch policy {
	case RR:
		a.Policy = unix.SCHED_RR
	case FIFO:
		a.Policy = unix.SCHED_FIFO
	default:
		return nil, fmt.Errorf("%s is not a real-time policy", policy)
	}
	if priority < 0 || priority > 99 {
		return nil, fmt.Errorf("priority %d is out of range (1 to 99)", priority)
	}
	return a, nil
}

// Threads reports the scheduling of every thread of process pid (0: this
// one), as chrt -p shows it for one.
func Threads(pid int) ([]Thread, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	tids, err := list(dir)
	if err != nil {
		return nil, err
	}
	var out []Thread
	for _, tid := range tids {
		a, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("thread %d: sched_getattr: %w", tid, err)
		}
		out = append(out, Thread{TID: tid, Policy: policyOf(a.Policy), Priority: int(a.Priority)})
	}
	return out, nil
}

func policyOf(p uint32) Policy {
	switch p {
	case unix.SCHED_RR:
		return RR
	case unix.SCHED_FIFO:
		return FIFO
	case unix.SCHED_NORMAL:
		return Other
	}
	return Policy(100 + int(p)) // batch, idle, deadline: none of ours
}

// list reads the thread ids in a /proc task directory.
func list(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// LockThread locks the calling goroutine to its thread
// (runtime.LockOSThread) and puts that thread alone under policy at
// priority. unlock puts the thread's scheduling back as it was and
// unlocks the goroutine; the goroutine calls it before it ends. A
// goroutine that ends locked ends its thread with it, except on the
// main thread, which the runtime cannot end and parks for good: that
// thread would stay under the policy, so unlock is not optional. On
// failure the goroutine is unlocked again and its thread is as it was.
func LockThread(policy Policy, priority int) (unlock func(), err error) {
	want, err := attr(policy, priority)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	// Thread id 0 is the calling thread.
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_getattr: %w", err)
	}
	if err := unix.SchedSetAttr(0, want, 0); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_setattr %s priority %d: %w", policy, priority, err)
	}
	return func() {
		// Putting back what the thread had needs no privilege
		// (lowering a policy never does).
		_ = unix.SchedSetAttr(0, old, 0)
		runtime.UnlockOSThread()
	}, nil
}

// Probe says whether LockThread(policy, priority) would succeed, by
// calling it, and undoing it, on a goroutine of its own.
func Probe(policy Policy, priority int) error {
	errc := make(chan error, 1)
	go func() {
		unlock, err := LockThread(policy, priority)
		if err == nil {
			unlock()
		}
		errc <- err
	}()
	return <-errc
}
