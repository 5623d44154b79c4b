package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/link/ftfw"
)

// Readiness: whether this node holds a complete copy of its peer's state,
// for `ctsync ready`, keepalived's track script and sd_notify's READY
// (docs/readiness.md). Two conditions:
//
//   - the resync from the peer is complete. conntrackd's protocol has no
//     end-of-resync marker, so each mode has a rule (syncmode.PeerState):
//     FT-FW infers the end from sequence numbers and acknowledgements,
//     NOTRACK from the peer going quiet after its bulk, and ALARM, which
//     has no resync, from a full refresh period since the peer was first
//     heard. Without a request (startup_resync off, no `ctsync resync`),
//     FT-FW and NOTRACK are not ready: nothing says the copy is whole;
//   - in FT-FW, what this node sent the peer is being acknowledged: its
//     resend queue is empty, or made progress within drainStall. A queue
//     that stalls means a dead or deaf peer; one that merely never
//     empties, on a busy node, must not flap the answer, or keepalived
//     would move the address back and forth under load.
//
// Once complete, the copy stays complete when the peer dies: that is when
// the node is needed.

// drainStall is how long the FT-FW resend queue may go without progress
// before the node is not ready: the resend timeout and two alive
// intervals, by which a live peer has acknowledged something.
const drainStall = ftfw.DefaultResendTimeout + 2*ftfw.DefaultAliveInterval

// readyWatch remembers the last answer, for Since.
type readyWatch struct {
	seen  bool
	ready bool
	since time.Time
	asked time.Time // the last resync request from the peer
}

// Readiness says whether this node holds a complete copy of its peer's
// state, and why not (control.Handler; it never fails).
func (e *Engine) Readiness(context.Context) (control.Readiness, error) {
	return e.readinessNow(), nil
}

func (e *Engine) readinessNow() control.Readiness {
	now := e.io.Clock.Now()
	serving := false
	select {
	case <-e.ready:
		serving = true
	default:
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.readiness(now, serving)
	w := &e.readyW
	if !w.seen || w.ready != r.Ready {
		w.seen, w.ready, w.since = true, r.Ready, now
	}
	r.Since = w.since
	return r
}

// readiness applies the rule; e.mu is held.
func (e *Engine) readiness(now time.Time, serving bool) control.Readiness {
	no := func(format string, a ...any) control.Readiness {
		return control.Readiness{Reason: fmt.Sprintf(format, a...)}
	}
	if !serving {
		return no("starting: loading the kernel's table")
	}
	if e.peer.down() {
		return no("%v", errNoLinks)
	}
	st, _ := e.mode.PeerState(0, now)
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() }
	mode := e.rt.Sync.Mode
	if !st.Complete {
		switch {
		case mode == config.SyncAlarm && st.Heard.IsZero():
			return no("waiting for the peer: nothing heard from it yet (ALARM sends every flow within refresh_time, %v)", e.rt.Sync.RefreshTime)
		case mode == config.SyncAlarm:
			return no("receiving the peer's refreshes: %v of a full period (%v) since it was first heard, %d updates so far", ago(st.Heard), e.rt.Sync.RefreshTime+time.Second, st.Received)
		case !st.Requested && e.rt.Sync.StartupResync:
			// The start-up request goes out once the engine runs.
			return no("the start-up resync is not asked for yet")
		case !st.Requested:
			return no("no resync from the peer was asked for (sync.startup_resync is off): run ctsync resync")
		case mode == config.SyncFTFW && st.Acknowledged, mode == config.SyncNotrack && !st.Heard.IsZero():
			return no("receiving the peer's table: %d updates so far, resync requested %s ago", st.Received, ago(e.readyW.asked))
		case st.Heard.IsZero():
			return no("waiting for the peer's table: resync requested %s ago, nothing heard from the peer yet", ago(e.readyW.asked))
		}
		return no("waiting for the peer's table: resync requested %s ago, not acknowledged yet", ago(e.readyW.asked))
	}
	if st.Pending > 0 && now.Sub(st.Draining) > drainStall {
		return no("%d flows unacknowledged by the peer, none acknowledged for %s", st.Pending, ago(st.Draining))
	}
	what := fmt.Sprintf("resync from the peer complete (%d updates received)", st.Received)
	if mode == config.SyncAlarm {
		what = fmt.Sprintf("a full refresh period of the peer received (%d updates)", st.Received)
	}
	if st.Pending > 0 {
		return control.Readiness{Ready: true, Reason: fmt.Sprintf("%s, %d flows being acknowledged", what, st.Pending)}
	}
	if mode == config.SyncFTFW {
		what += ", nothing unacknowledged"
	}
	return control.Readiness{Ready: true, Reason: what}
}

// resyncPoll is how often ResyncWait looks at the resync's progress.
const resyncPoll = 100 * time.Millisecond

// ResyncWait asks the peer for its table and returns once the answer is
// complete (the rule of Readiness), reporting the flows received so far,
// or when ctx is done.
func (e *Engine) ResyncWait(ctx context.Context, progress func(control.Progress)) error {
	if e.rt.Sync.Mode == config.SyncAlarm {
		return errors.New("resync: ALARM has no resync from the peer: it sends every flow again within refresh_time; ctsync ready says when a full period has passed")
	}
	if err := e.Resync(ctx, false, nil); err != nil {
		return err
	}
	for {
		now := e.io.Clock.Now()
		e.mu.Lock()
		st, _ := e.mode.PeerState(0, now)
		e.mu.Unlock()
		if progress != nil {
			progress(control.Progress{Stage: "resync", Done: int64(st.Received)})
		}
		if st.Complete {
			e.log.Info("resync from the peer complete", "received", st.Received)
			return nil
		}
		select {
		case <-ctx.Done():
			r := e.readinessNow()
			return fmt.Errorf("resync: stopped waiting (%w): %s", context.Cause(ctx), r.Reason)
		case <-e.closed:
			return errStopped
		case <-e.io.Clock.After(resyncPoll):
		}
	}
}
