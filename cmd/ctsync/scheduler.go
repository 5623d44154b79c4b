package main

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/rtsched"
)

// applyScheduler checks that the configured real-time policy can be
// applied, at the point of conntrackd's start-up where it applies it
// (after the lock file, before the control socket: src/main.c), and
// returns what puts the thread of the goroutine that reads the kernel's
// events under it (engine.Options.EventThread). As in conntrackd, a
// refusal is a warning and the daemon goes on with the normal scheduler
// (nil): the kernel refuses priority 0 (conntrackd's Type without
// Priority), and an unprivileged daemon or a container without
// CAP_SYS_NICE gets EPERM.
//
// conntrackd is one thread, which reads its sockets. ctsync puts only
// its event reader under the policy, not every thread: the Go runtime's
// idle threads spin before they sleep, and at real-time priority that
// spinning is counted as the daemon's CPU, a third more per event on the
// sender (README, "Design targets, measured").
func applyScheduler(log *slog.Logger, s config.SchedulerSettings) (eventThread func() (release func())) {
	if s.Policy == config.SchedOther {
		log.Info("scheduler: the normal scheduler for every thread (policy other)")
		return nil
	}
	p := rtsched.RR
	if s.Policy == config.SchedFIFO {
		p = rtsched.FIFO
	}
	err := rtsched.Probe(p, s.Priority)
	if errors.Is(err, rtsched.ErrUnsupported) {
		log.Warn("scheduler: real-time scheduling is not supported on this system; continuing with the normal scheduler")
		return nil
	}
	if err != nil {
		log.Warn("scheduler configuration failed; continuing with the normal scheduler",
			"policy", s.Policy.String(), "priority", s.Priority, "err", err)
		return nil
	}
	log.Info("real-time scheduling for the thread that reads the kernel events", "policy", s.Policy.String(), "priority", s.Priority)
	var once sync.Once
	return func() (release func()) {
		// The probe succeeded, so a failure here is unexpected (a
		// changed limit, RLIMIT_RTPRIO): the reader runs under the
		// normal scheduler, said once.
		unlock, err := rtsched.LockThread(p, s.Priority)
		if err != nil {
			once.Do(func() {
				log.Warn("scheduler: the event reader continues with the normal scheduler", "err", err)
			})
		}
		return unlock
	}
}
