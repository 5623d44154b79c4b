package main

import (
	"errors"
	"log/slog"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/rtsched"
)

// applyScheduler puts the daemon under the configured real-time policy,
// at the point of conntrackd's start-up where it does so (after the lock
// file, before the control socket: src/main.c). As there, a failure is
// a warning and the daemon goes on with the normal scheduler: the
// kernel refuses priority 0 (conntrackd's Type without Priority), and an
// unprivileged daemon or a container without CAP_SYS_NICE gets EPERM.
// Every thread is changed, not only the caller (internal/rtsched).
func applyScheduler(log *slog.Logger, s config.SchedulerSettings) {
	p := rtsched.RR
	if s.Policy == config.SchedFIFO {
		p = rtsched.FIFO
	}
	n, err := rtsched.Set(p, s.Priority)
	if errors.Is(err, rtsched.ErrUnsupported) {
		log.Warn("scheduler: real-time scheduling is not supported on this system; continuing with the normal scheduler")
		return
	}
	if err != nil {
		log.Warn("scheduler configuration failed; continuing with the normal scheduler",
			"policy", s.Policy.String(), "priority", s.Priority, "err", err)
		return
	}
	log.Info("real-time scheduling", "policy", s.Policy.String(), "priority", s.Priority, "threads", n)
}
