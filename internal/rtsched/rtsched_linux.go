package rtsched

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Set puts every thread of the process under policy at priority (1 to
// 99 for RR and FIFO; the kernel refuses 0 with EINVAL, as conntrackd
// finds when Type is given without Priority). It returns how many
// threads it changed. On failure, the threads changed are put back as
// they were, so the process runs under one policy: the old one.
func Set(policy Policy, priority int) (changed int, err error) {
	want, err := attr(policy, priority)
	if err != nil {
		return 0, err
	}
	return setAll(want)
}

// setAll gives every thread of the process the scheduling want.
func setAll(want *unix.SchedAttr) (changed int, err error) {
	old := map[int]*unix.SchedAttr{}
	undo := func() {
		for tid, a := range old {
			// A thread may have exited meanwhile; nothing else
			// can fail where setting it succeeded.
			_ = unix.SchedSetAttr(tid, a, 0)
		}
	}
	for range maxPasses {
		tids, err := threads()
		if err != nil {
			undo()
			return 0, err
		}
		n := 0
		for _, tid := range tids {
			cur, err := unix.SchedGetAttr(tid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue // exited since listed
			}
			if err != nil {
				undo()
				return 0, fmt.Errorf("thread %d: sched_getattr: %w", tid, err)
			}
			if cur.Policy == want.Policy && cur.Priority == want.Priority {
				continue
			}
			if err := unix.SchedSetAttr(tid, want, 0); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				undo()
				return 0, fmt.Errorf("sched_setattr %s priority %d: %w", policyOf(want.Policy), want.Priority, err)
			}
			if _, seen := old[tid]; !seen {
				old[tid] = cur
			}
			n++
		}
		if n == 0 {
			return len(old), nil
		}
	}
	undo()
	return 0, fmt.Errorf("threads kept appearing under the old policy after %d passes", maxPasses)
}

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

func threads() ([]int, error) { return list("/proc/self/task") }

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
