package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
)

// readyPoll is how often the daemon looks at the engine's readiness once
// it serves, to tell systemd and its log.
const readyPoll = time.Second

// startExtension is how far each STATUS sent while not ready pushes
// systemd's start timeout (EXTEND_TIMEOUT_USEC): a daemon that waits for
// its peer keeps its start job alive, one that hangs lets it time out.
const startExtension = 30 * time.Second

// readyWatch follows the engine's readiness for the daemon. systemd's
// READY=1 follows the rule of `ctsync ready` (docs/readiness.md): it is
// sent once the node holds a complete copy of its peer's state (but see
// atServe), not when the daemon merely serves (conntrackd's src/systemd.c sends it
// then; `conntrackd -d` still returns at serving). Meanwhile STATUS= says
// what it waits for, with EXTEND_TIMEOUT_USEC so that a Type=notify
// unit's start does not time out on a backup whose peer is down.
type readyWatch struct {
	rt config.Runtime
	// atServe: READY=1 as soon as the daemon serves, as conntrackd
	// does, when readiness can only come from an operator: under
	// conntrackd's command line (the package's unit runs it, then
	// keepalived's script asks with -n), and with startup_resync off
	// (the daemon asks its peer for nothing by itself). Waiting there
	// would hang `systemctl start` until someone runs a resync, and a
	// primary, which keepalived's script never makes ask, for good.
	atServe  bool
	log      *slog.Logger
	eng      control.Handler
	notified bool   // READY=1 was sent
	status   string // the last STATUS sent
	ready    bool   // the last readiness logged
	logged   bool
}

// waitsForPeer says whether a daemon of rt becomes ready by itself: it
// asks its peer at start (startup_resync), or, in ALARM, listens to its
// refreshes. Stats mode has no peer and is ready once it serves.
func waitsForPeer(rt config.Runtime) bool {
	return rt.Mode == config.ModeSync && (rt.Sync.Mode == config.SyncAlarm || rt.Sync.StartupResync)
}

// check asks the engine and tells systemd and the log what changed.
func (w *readyWatch) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, readyPoll)
	defer cancel()
	r, err := w.eng.Readiness(ctx)
	answered := err == nil
	if !answered {
		r = control.Readiness{Reason: fmt.Sprintf("the engine does not say: %v", err)}
	}
	if !w.logged || r.Ready != w.ready {
		w.logged, w.ready = true, r.Ready
		w.log.Info(r.String())
	}
	status := "STATUS=" + r.String()
	switch {
	case (r.Ready || w.atServe) && !w.notified:
		w.notified = true
		notifySystemd(w.rt, w.log, readyState()+"\n"+status)
	case !w.notified && answered:
		notifySystemd(w.rt, w.log, fmt.Sprintf("%s\nEXTEND_TIMEOUT_USEC=%d", status, startExtension.Microseconds()))
	case !w.notified:
		// An engine that does not answer may hang: the start timeout
		// is not pushed, so that a hang fails the start.
		if status != w.status {
			notifySystemd(w.rt, w.log, status)
		}
	case status != w.status:
		notifySystemd(w.rt, w.log, status)
	}
	w.status = status
}

// reloaded is what to tell systemd after a SIGHUP reload: READY=1 ends
// the RELOADING=1, but only once READY=1 was due anyway; before, it
// would end the start early.
func (w *readyWatch) reloaded() {
	if w.notified {
		notifySystemd(w.rt, w.log, "READY=1")
	}
}

// reloading is RELOADING=1, for a daemon that said READY=1.
func (w *readyWatch) reloading() {
	if w.notified {
		notifySystemd(w.rt, w.log, reloadingState())
	}
}
