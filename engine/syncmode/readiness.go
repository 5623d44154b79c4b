package syncmode

import "time"

// What tells the engine whether this node holds a complete copy of a
// peer's state (ctsync ready, docs/readiness.md). conntrackd's protocol
// has no end-of-resync marker, so each mode has its own rule.

// NoTrackQuiet is how long a NOTRACK peer, heard since our RESYNC
// request (asked again if it was never heard before the request and then
// sends nothing: reaskDue), must send no data for its answer to count as complete; and
// NoTrackMaxWait, how long after it was first heard the answer counts as
// complete anyway, for a peer whose own traffic never pauses. A NOTRACK
// peer sends its whole table at once when the request arrives
// (src/sync-notrack.c): a million flows take under two seconds.
const (
	NoTrackQuiet   = 2 * time.Second
	NoTrackMaxWait = 10 * time.Second
)

// PeerState is how far this node has come in copying peer i's state.
type PeerState struct {
	// Requested: a RESYNC request was made (FT-FW, NOTRACK; ALARM has
	// none, it sends every flow again each refresh period).
	Requested bool
	// Acknowledged: FT-FW: the peer has received the request.
	Acknowledged bool
	// Complete: the peer's answer has all arrived, by the mode's rule:
	// FT-FW, ftfw.Session.Resync; NOTRACK, the peer was heard after the
	// request and then sent no data for NoTrackQuiet (or was heard
	// NoTrackMaxWait ago); ALARM, a refresh period (RefreshTime and the
	// timer's second of jitter) has passed since the peer was first
	// heard, so that it sent every flow it has at least once.
	Complete bool
	// Received counts the data messages received since the request
	// (ALARM: since the peer was first heard).
	Received uint64
	// Heard is when the peer was first heard (since the request, when
	// there was one).
	Heard time.Time
	// Pending is, in FT-FW, how many objects of ours the peer has not
	// acknowledged yet; Draining is since when it has not been
	// stalled: the last time it was empty, fell, began to fill, or the
	// peer acknowledged anything of ours.
	Pending  int
	Draining time.Time
}

// peerWatch is what a peer records for PeerState.
type peerWatch struct {
	asked     bool      // NOTRACK: a request was made
	reask     bool      // NOTRACK: it was made before the peer was ever heard
	ever      bool      // the peer was heard at least once since start
	heard     time.Time // first message since the request (or since start)
	lastData  time.Time // NOTRACK: the last data message since then
	received  uint64
	pending   int
	acks      uint64
	draining  time.Time
	completed bool // NOTRACK: seen complete once (the rule is not undone by more data)
}

// PeerState returns peer i's state at now; false for an unknown peer.
func (m *Mode) PeerState(i int, now time.Time) (PeerState, bool) {
	if i < 0 || i >= len(m.peers) {
		return PeerState{}, false
	}
	p := m.peers[i]
	w := &p.watch
	st := PeerState{Heard: w.heard, Received: w.received}
	switch m.s.Kind {
	case FTFW:
		rs := p.sess.Resync()
		st.Requested, st.Acknowledged, st.Complete = rs.Requested, rs.Acknowledged, rs.Complete
		st.Received = rs.Received
		p.watchQueue(now)
		st.Pending, st.Draining = w.pending, w.draining
	case NoTrack:
		st.Requested = w.asked
		if w.asked && !w.heard.IsZero() && !w.completed {
			w.completed = now.Sub(w.lastData) >= NoTrackQuiet || now.Sub(w.heard) >= NoTrackMaxWait
		}
		st.Complete = w.completed
	case Alarm:
		st.Complete = !w.heard.IsZero() && now.Sub(w.heard) >= m.s.RefreshTime+time.Second
	}
	return st, true
}

// heard records a datagram received from the peer, of which data
// messages carried data messages.
func (p *peer) heard(now time.Time, data uint64) {
	w := &p.watch
	w.ever = true
	if w.heard.IsZero() {
		w.heard, w.lastData = now, now
	}
	if data > 0 {
		// Data after the request: the answer is coming (see reaskDue).
		w.reask = false
		w.lastData = now
		if p.m.s.Kind != FTFW {
			w.received += data
		}
	}
	if p.sess != nil {
		p.watchQueue(now)
	}
}

// reaskAfter is how long a NOTRACK peer, heard for the first time after
// our request, may stay without data before the request is taken for
// lost: more than its ALIVE interval, so that an answer has had time.
const reaskAfter = 1500 * time.Millisecond

// reaskDue says whether NOTRACK should ask peer p again now. A request
// made before the peer was ever heard (StartupResync on a backup that
// starts first) was most likely lost, NOTRACK having no
// acknowledgement, and a quiet peer would then look like one that
// answered. If the peer, once heard, sends no data for reaskAfter, the
// request is made again, once, and what answers it counts from then on.
// conntrackd does not ask again, and never gets the table. Asking at
// once when the peer is first heard would double every start-up bulk
// when the request did arrive.
func (p *peer) reaskDue(now time.Time) bool {
	w := &p.watch
	if !w.reask || w.heard.IsZero() || now.Sub(w.heard) < reaskAfter {
		return false
	}
	w.reask = false
	w.heard, w.lastData = time.Time{}, time.Time{}
	return true
}

// watchQueue follows the FT-FW resend queue: a queue that empties,
// shrinks, or has just begun to fill is draining, and so is one while
// the peer acknowledges anything: it hears us, and a busy node's queue
// need not shrink for that.
func (p *peer) watchQueue(now time.Time) {
	w := &p.watch
	n, acks := p.sess.Pending(), p.sess.AcksReceived()
	if n == 0 || n < w.pending || w.pending == 0 || acks != w.acks {
		w.draining = now
	}
	w.pending, w.acks = n, acks
}

// asked resets what NOTRACK has heard: only what comes after a request
// answers it.
func (p *peer) asked() {
	w := p.watch
	p.watch = peerWatch{asked: true, reask: !w.ever, ever: w.ever, pending: w.pending, acks: w.acks, draining: w.draining}
}
