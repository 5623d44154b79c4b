// Package rtsched puts threads under a real-time scheduling policy, as
// conntrackd's General > Scheduler setting does (its start-up in
// src/main.c calls sched_setscheduler).
//
// conntrackd is one thread, so one call covers it: the thread that reads
// its sockets. A Go program is many threads, and sched_setattr changes one
// thread only. LockThread puts only the calling goroutine's thread under
// the policy, and locks the goroutine to it (runtime.LockOSThread). The
// daemon does this on the goroutine that reads the kernel's events
// (engine.Options.EventThread), so that it runs when events arrive, as
// conntrackd's one thread does (an overrun loses them), while every other
// thread, the sync links' readers among them, stays under the normal
// policy. The policy of
// every thread was tried first: the runtime's idle threads spin for a
// while before they sleep, and under a real-time policy that spinning
// pre-empts everything else and is counted as the daemon's CPU.
//
// A thread locked by LockThread does not pass its policy on, though a
// thread created by clone inherits its creator's: the runtime starts the
// threads a locked goroutine needs from its template thread, which
// LockOSThread starts first, under the policy the process had.
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
