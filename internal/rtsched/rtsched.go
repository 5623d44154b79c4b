// Package rtsched puts a whole process under a real-time scheduling
// policy, as conntrackd's General > Scheduler setting does (its start-up
// in src/main.c calls sched_setscheduler).
//
// conntrackd is one thread, so one call covers it. A Go program is many
// threads (the runtime starts several before main, and more whenever a
// goroutine blocks in a system call), and sched_setscheduler and
// sched_setattr change one thread only. Setting the policy before the
// runtime starts threads is impossible from Go. What works is what the
// kernel gives: a thread created by clone inherits its creator's policy
// (unless SCHED_RESET_ON_FORK, which nobody sets here). So Set changes
// every thread listed in /proc/self/task, and lists them again until a
// pass finds none left to change: a thread created meanwhile by a thread
// not yet changed shows up in the next pass, and once every thread is
// changed every later one inherits the policy. docs/compat.md says so.
package rtsched

import (
	"errors"
	"fmt"
)

// Policy is a real-time scheduling policy.
type Policy int

// The real-time policies conntrackd offers (Type RR, FIFO), and the
// normal one, which Get reports for a thread that has no real-time one.
const (
	Other Policy = iota
	RR
	FIFO
)

func (p Policy) String() string {
	switch p {
	case RR:
		return "SCHED_RR"
	case FIFO:
		return "SCHED_FIFO"
	case Other:
		return "SCHED_OTHER"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// Thread is one thread's scheduling.
type Thread struct {
	TID      int
	Policy   Policy
	Priority int
}

// ErrUnsupported is returned where the system has no per-thread
// real-time scheduling that this package knows.
var ErrUnsupported = errors.New("real-time scheduling is not supported on this system")

// maxPasses bounds Set's passes over the threads: each pass leaves only
// threads created during it to change, so a few suffice unless threads
// are created without end.
const maxPasses = 10
