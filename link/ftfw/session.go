package ftfw

import (
	"slices"
	"time"

	"github.com/ctsync/ctsync/link/wire"
)

// Legacy defaults (conntrackd 1.4.7: init_config() in src/read_config_yy.y,
// src/sync-ftfw.c).
const (
	DefaultResendQueueSize = 131072
	DefaultACKWindowSize   = 300
	// DefaultAliveInterval is conntrackd's hard-coded alive timer: an ALIVE
	// (or the pending ACK) goes out one second after the last transmission.
	DefaultAliveInterval = time.Second
)

// Status is an object's life-cycle state; it selects the message type at
// transmission time.
type Status uint8

const (
	StatusNew   Status = iota // created, never updated: NEW message
	StatusAlive               // updated at least once: UPDATE message
	StatusDead                // destroyed: DELETE message
	// StatusGone is for an object queued with Add alone: there is
	// nothing of it to send any more, and its entry is dropped unsent.
	StatusGone
)

// Object is what the engine replicates (a conntrack or an expectation).
type Object interface {
	// Status is read when the object is transmitted, not when it is queued.
	Status() Status
	// Put writes the object's current state into m.Flow or m.Exp (m is
	// zeroed) and returns the base type: wire.TypeCTNew or wire.TypeExpNew.
	Put(m *wire.Message) wire.Type
}

// Releaser is implemented by an Object that must know when the session lets
// it go: the peer acknowledged its last transmission. A destroyed object is
// kept in the internal cache until then, as conntrackd keeps its reference
// while the DELETE sits in the resend queue (src/sync-ftfw.c). The session
// calls Released once per Enqueue that created its slot; an Object that is
// a pointer costs no allocation.
type Releaser interface{ Released() }

// Handler receives what the engine must act on. Calls happen synchronously
// from Receive; the Handler may call Enqueue but not Receive.
type Handler interface {
	// Apply is called for every data message the protocol accepts, in
	// sequence order: NEW replaces, UPDATE updates or creates, DELETE
	// removes. m is only valid during the call.
	Apply(m *wire.Message)
	// BulkSend asks the engine to Enqueue every live object it holds: the
	// peer sent a RESYNC request.
	BulkSend()
}

// Config holds the protocol parameters; zero fields take the legacy defaults.
type Config struct {
	ResendQueueSize int
	ACKWindowSize   int
	AliveInterval   time.Duration
	// InitialSeq is the first sequence number sent; 0 means the legacy
	// choice, the current Unix time in seconds.
	InitialSeq uint32
	// ResendTimeout, when set, re-sends every data object and RESYNC
	// request still unacknowledged after this long (with a new number,
	// like a NACK), and forgets other control messages that old:
	// re-sending those too made the property test's heavy-loss runs
	// diverge (every lost control message begets a NACK that is itself
	// kept); a forgotten NACK that the peer then reports missing is
	// handled as after an overflow.
	// conntrackd has no such timer (0, the default): it re-sends only on
	// NACK, and a NACK is sent once per gap, so recovery from a lost NACK
	// depends on the NACK itself being NACKed, a chain that stops
	// converging under heavy loss, and a message lost before the peer
	// answered our HELLO (a StartupResync request) is never NACKed. The
	// timer changes nothing on the wire that a legacy peer could object
	// to: it only sees new messages. The engine sets DefaultResendTimeout.
	ResendTimeout time.Duration
}

// DefaultResendTimeout is the ResendTimeout ctsync runs with: three alive
// intervals, long enough that a NACK round trip on a healthy link comes
// first.
const DefaultResendTimeout = 3 * time.Second

// Stats are cumulative counters.
type Stats struct {
	Sent, Received   uint64 // messages
	Retransmitted    uint64 // NACKed entries re-queued
	Lost             uint64 // sequence numbers skipped by the peer (exact, unlike conntrackd's)
	Before           uint64 // delayed or duplicated messages dropped
	Malformed        uint64 // control messages with a bad range or no known flag
	Overflows        uint64 // resend-queue entries dropped because the queue was full
	Repairs          uint64 // times objects dropped by overflow were queued again
	RepairResyncs    uint64 // RESYNC requests sent because a NACK or RESYNC we dropped (overflow, timeout) was missed by the peer
	HelloDiscarded   uint64 // resend-queue entries discarded because the peer said HELLO
	HelloRequeued    uint64 // of those, data objects queued to be sent again
	TimedOut         uint64 // entries re-sent by ResendTimeout
	ResyncsRequested uint64 // RESYNC requests received from the peer
}

// resyncHoldoff is the minimum gap, in alive intervals, between two RESYNC
// requests triggered by overflows.
const resyncHoldoff = 10

const maxDropped = 64

// Where an entry is.
const (
	inNone uint8 = iota
	inTx
	inResend
	inLost
	inCtl      // a control message waiting to be sent
	inBulkTx   // a keyless object waiting to be sent
	inBulkSent // a keyless object waiting for acknowledgement
)

type entry[K comparable, O Object] struct {
	key K
	obj O
	// ctl is 0 for a data object, else the control flag (ACK, NACK,
	// RESYNC, ALIVE) of a control message with range [from, to].
	ctl      wire.Flags
	from, to uint32
	seq      uint32
	sent     time.Duration // last transmission, as an offset from Session.epoch
	where    uint8
	// keyless: a data object queued with Add, in no key map.
	keyless    bool
	prev, next int32
}

type list struct {
	head, tail int32
	n          int
}

const nilIdx = -1

type helloState uint8

const (
	helloInit helloState = iota
	helloSay
	helloDone
)

// Session is the FT-FW state for one peer: the sending side (transmit and
// resend queues, sequence counter, hello) and the receiving side (sequence
// tracking, ACK window). It is not safe for concurrent use.
type Session[K comparable, O Object] struct {
	cfg Config
	h   Handler

	entries []entry[K, O]
	free    []int32
	keys    map[K]int32
	// tx holds the data objects waiting to be sent, ctl the control
	// messages, which Flush sends after the data: when the resend queue
	// is full the data waits for acknowledgements, and a Flush then
	// stops at the first data object instead of walking all of them (a
	// bulk send of a million, at every wake-up) to find the control
	// messages.
	tx     list
	ctl    list
	resend list
	lost   list
	// bulkTx and bulkSent are tx and resend for the keyless objects of
	// a bulk send (Add). They do not count against ResendQueueSize and
	// are never held back: a table larger than the resend queue would
	// otherwise overflow it at once, and the data held back while the
	// overflow is repaired would let our ACKs overtake the table, which
	// a peer waiting for it (Resync) takes for its end. Their memory is
	// bounded by the table, which the engine's cache holds anyway, and
	// a new bulk send drops what is left of the last one (DropUnsent).
	bulkTx   list
	bulkSent list

	seq   uint32 // next sequence number to send
	hello helloState
	// sayHelloBack: the next transmitted message carries HELLO_BACK.
	sayHelloBack bool

	// Receive side.
	seqSet     bool
	last       uint32 // last accepted sequence number
	ackPending bool
	ackFrom    uint32
	window     int

	aliveAt time.Time
	// epoch is New's now: send times are kept as offsets from it, so they
	// follow the monotonic clock and a step of the system clock neither
	// stops nor triggers the resend timer.
	epoch time.Time

	repairing    bool
	resyncWanted bool
	resyncAt     time.Time // no overflow-triggered RESYNC before
	// dropped holds the numbers of NACK and RESYNC messages of ours that
	// overflow dropped before the peer acknowledged them: an ACK of one
	// clears it, a NACK of one means the peer never got it and we can no
	// longer re-send it, so only then is a RESYNC needed.
	dropped [maxDropped]uint32
	ndrop   int

	// rs follows our latest RESYNC request until the peer's answer is
	// complete (Resync).
	rs resyncTrack
	// nacks counts our NACKs not yet acknowledged: a resync is not
	// complete while the peer may still owe us what one asked for.
	nacks int
	// acks counts the peer's ACKs processed: proof that it hears us.
	acks uint64

	out   []wire.Message // Flush's
	msg   wire.Message   // the message being transmitted
	stats Stats
}

// The phases of a RESYNC request of ours.
const (
	resyncNone  uint8 = iota // never asked
	resyncAsked              // queued or sent, the peer has not acknowledged it
	resyncAcked              // the peer has it: its table is queued there
	resyncDone               // the peer has sent all of it
)

// resyncTrack follows a RESYNC request of ours. FT-FW has no end-of-bulk
// marker (conntrackd's src/sync-ftfw.c answers a RESYNC by queueing its
// whole cache for transmission, in order with everything else it sends),
// so the end is inferred from sequence numbers; see Resync.
type resyncTrack struct {
	phase uint8
	sent  bool   // seq is the number of its latest transmission
	seq   uint32 // our RESYNC's number
	mark  uint32 // our next number when the peer acknowledged it
	got   uint64 // data messages accepted since the request
	// ackSeen: the message being received is an ACK that was processed.
	ackSeen bool
}

// ResyncStatus is how far our latest RESYNC request has come.
type ResyncStatus struct {
	// Requested: a RESYNC of ours was queued (RequestResync, or a
	// repair), so the peer's whole table is on its way.
	Requested bool
	// Acknowledged: the peer has received the request, and so queued
	// its table for us.
	Acknowledged bool
	// Complete: every message the peer queued before it acknowledged
	// the request has arrived, with no gap left to fill (see Resync).
	Complete bool
	// Received counts the data messages accepted since the request.
	Received uint64
}

// New returns a Session. now starts the alive timer (and picks the initial
// sequence number when cfg.InitialSeq is 0).
func New[K comparable, O Object](cfg Config, h Handler, now time.Time) *Session[K, O] {
	if cfg.ResendQueueSize <= 0 {
		cfg.ResendQueueSize = DefaultResendQueueSize
	}
	if cfg.ACKWindowSize <= 0 {
		cfg.ACKWindowSize = DefaultACKWindowSize
	}
	if cfg.AliveInterval <= 0 {
		cfg.AliveInterval = DefaultAliveInterval
	}
	if cfg.InitialSeq == 0 {
		cfg.InitialSeq = uint32(now.Unix())
	}
	s := &Session[K, O]{
		cfg:      cfg,
		h:        h,
		keys:     make(map[K]int32),
		tx:       list{nilIdx, nilIdx, 0},
		ctl:      list{nilIdx, nilIdx, 0},
		resend:   list{nilIdx, nilIdx, 0},
		lost:     list{nilIdx, nilIdx, 0},
		bulkTx:   list{nilIdx, nilIdx, 0},
		bulkSent: list{nilIdx, nilIdx, 0},
		seq:      cfg.InitialSeq,
		window:   cfg.ACKWindowSize,
		aliveAt:  now.Add(cfg.AliveInterval),
		epoch:    now,
		out:      make([]wire.Message, 0, 64),
	}
	return s
}

// Stats returns the counters.
func (s *Session[K, O]) Stats() Stats { return s.stats }

// NextTimer is when Tick next has something to do.
func (s *Session[K, O]) NextTimer() time.Time { return s.aliveAt }

// Queued reports the lengths of the transmit, resend and lost queues;
// the objects of a bulk send (Add) are counted in the first two, although
// they do not count against ResendQueueSize.
func (s *Session[K, O]) Queued() (tx, resend, lost int) {
	return s.tx.n + s.bulkTx.n + s.ctl.n, s.resend.n + s.bulkSent.n, s.lost.n
}

// HelloDone reports whether the peer has answered our HELLO.
func (s *Session[K, O]) HelloDone() bool { return s.hello == helloDone }

// Enqueue queues obj, the current state of key, for transmission. An object
// already waiting to be sent is only updated (one slot per key); one waiting
// for acknowledgement goes back to the transmit queue.
func (s *Session[K, O]) Enqueue(key K, obj O) {
	if i, ok := s.keys[key]; ok {
		e := &s.entries[i]
		e.obj = obj
		if e.where != inTx {
			s.requeue(i)
		}
		return
	}
	i := s.alloc()
	e := &s.entries[i]
	e.key = key
	e.obj = obj
	s.keys[key] = i
	s.push(&s.tx, i, inTx)
}

// Upsert queues the object of key for transmission, as Enqueue does, and
// returns the session's slot for it: found says whether the session held
// the key already (the slot holds its object), else the caller must store
// the new object in the slot. The pointer is valid until the next call
// into the session. It spares a caller that keeps an object per key its
// own map: one lookup instead of two maps (at a million flows, the
// random accesses into two maps were most of a bulk send's time).
func (s *Session[K, O]) Upsert(key K) (obj *O, found bool) {
	if i, ok := s.keys[key]; ok {
		e := &s.entries[i]
		if e.where != inTx {
			s.requeue(i)
		}
		return &e.obj, true
	}
	i := s.alloc()
	e := &s.entries[i]
	e.key = key
	s.keys[key] = i
	s.push(&s.tx, i, inTx)
	return &s.entries[i].obj, false
}

// Add queues obj for transmission without a key: one object of a bulk
// send, which a million of would otherwise cost as many insertions into
// the key map, and as many deletions once acknowledged. Such objects do
// not count against ResendQueueSize and are never held back for room in
// it (see bulkTx): they are sent at the next transmission, before the
// keyed objects, and are re-sent on NACK or timeout like any. Nothing keeps an
// object added twice, or added and enqueued with a key, from being sent
// twice: each transmission reads its state then (Object.Put), and the
// later one carries the newer state. So that a re-sent bulk object never
// undoes a later message, its Status must be StatusGone once the object
// is destroyed or no longer known (a destroyed object's DELETE is the
// keyed object's to send).
func (s *Session[K, O]) Add(obj O) {
	i := s.alloc()
	e := &s.entries[i]
	e.obj = obj
	e.keyless = true
	s.push(&s.bulkTx, i, inBulkTx)
}

// DropUnsent drops the objects queued with Add that wait to be sent: a
// new bulk send queues them all again, and must not queue them twice.
func (s *Session[K, O]) DropUnsent() {
	for s.bulkTx.head != nilIdx {
		i := s.bulkTx.head
		s.unlink(i)
		s.release(i)
	}
}

// Reserve makes room for n more objects, so that a bulk send of a
// million does not grow the session step by step (each step copying every
// entry).
func (s *Session[K, O]) Reserve(n int) {
	if need := len(s.entries) + n - len(s.free); need > cap(s.entries) {
		s.entries = slices.Grow(s.entries, need-len(s.entries))
	}
}

// RequestResync queues a RESYNC request: the peer will send everything
// (conntrackd -n).
func (s *Session[K, O]) RequestResync() { s.queueCtl(wire.FlagResync, 0, 0) }

// Resync reports how far our latest RESYNC request has come.
//
// The peer answers a RESYNC by queueing its whole table, and it sends
// what it queued in order, each message with the next number. Once its
// ACK covers our RESYNC (Acknowledged), the table is queued there, ahead
// of anything the peer queues later. The request is Complete when, after
// that, the peer acknowledges a message we sent after we saw that ACK
// (so the peer sent that ACK after everything queued before it) while
// no NACK of ours is unacknowledged and no repair RESYNC is due. A
// message lost before that ACK shows as a gap when the ACK arrives,
// before it is looked at, and the NACK that the gap causes holds the
// request open; what a NACK asks for is numbered before the ACK that
// releases the NACK, so it has arrived by then or shows as a gap again.
//
// This holds for a peer of any table size: conntrackd sends its whole
// transmit queue at once, and a Session sends a bulk (Add) whole, without
// counting it against ResendQueueSize, however full its resend queue is.
// Only keyed objects wait for room while an overflow is repaired, and
// those are not the table: each live one is in the bulk with its state
// at transmission.
func (s *Session[K, O]) Resync() ResyncStatus {
	return ResyncStatus{
		Requested:    s.rs.phase != resyncNone,
		Acknowledged: s.rs.phase >= resyncAcked,
		Complete:     s.rs.phase == resyncDone,
		Received:     s.rs.got,
	}
}

// Pending returns how many data objects wait for the peer: queued,
// unacknowledged or lost to an overflow and waiting for repair.
func (s *Session[K, O]) Pending() int { return len(s.keys) }

// AcksReceived counts the peer's ACKs processed: while it grows, the peer
// hears us, even when Pending does not shrink (objects updated again
// before their ACK are sent again and stay).
func (s *Session[K, O]) AcksReceived() uint64 { return s.acks }

// Tick runs the alive timer: AliveInterval after the last transmission it
// queues the pending ACK, or an ALIVE when nothing is pending.
func (s *Session[K, O]) Tick(now time.Time) {
	if s.cfg.ResendTimeout > 0 {
		old := now.Sub(s.epoch) - s.cfg.ResendTimeout
		for i := s.bulkSent.head; i != nilIdx && s.entries[i].sent <= old; i = s.bulkSent.head {
			s.stats.TimedOut++
			s.requeue(i)
		}
		// The queue is in transmission order: stop at the first young entry.
		for i := s.resend.head; i != nilIdx && s.entries[i].sent <= old; i = s.resend.head {
			s.stats.TimedOut++
			switch s.entries[i].ctl {
			case 0, wire.FlagResync:
				// A RESYNC lost before the peer answered our HELLO is
				// never NACKed (each HELLO resets the peer's tracking):
				// only sending it again gets us the peer's table. At
				// worst the peer does one bulk send more.
				s.requeue(i)
				continue
			case wire.FlagNack:
				s.suspect(s.entries[i].seq)
			}
			s.unlink(i)
			s.release(i)
		}
	}
	if now.Before(s.aliveAt) {
		return
	}
	if s.ackPending && s.seqSet {
		s.queueCtl(wire.FlagAck, s.ackFrom, s.last)
		s.ackPending = false
	} else {
		s.queueCtl(wire.FlagAlive, 0, 0)
	}
	s.window = s.cfg.ACKWindowSize
	s.aliveAt = now.Add(s.cfg.AliveInterval)
}

// Flush runs one transmission: every queued item gets the next sequence
// number and is returned, in order, ready for wire.AppendMessage. The slice
// and its messages are reused by the next call.
func (s *Session[K, O]) Flush(now time.Time) []wire.Message {
	s.out = s.out[:0]
	s.FlushTo(now, func(m *wire.Message) { s.out = append(s.out, *m) })
	return s.out
}

// FlushTo is Flush handing each message to emit as soon as it is
// numbered, instead of returning them all: a bulk send of a million would
// otherwise need a slice of a million messages (632 bytes each). The
// data objects go first, then the control messages. m is valid only
// during the call, and emit must not call into the session.
func (s *Session[K, O]) FlushTo(now time.Time, emit func(m *wire.Message)) {
	s.compact()
	s.startRepair(now)
	n := 0
	capacity := s.cfg.ResendQueueSize
	// A bulk send goes whole, repairing or not: its objects take no
	// room in the resend queue (see bulkTx). It goes before the keyed
	// objects, which a bulk send queues after it: the engine queues
	// expectations so, to reach the peer after their masters. Each
	// message carries its object's state at transmission, so the order
	// of two messages for one object changes nothing.
	for s.bulkTx.head != nilIdx {
		if s.transmit(s.bulkTx.head, now, emit) {
			n++
		}
	}
	for s.tx.head != nilIdx {
		// While repairing, the data waits until the peer
		// acknowledges; the resend queue does not shrink meanwhile, so
		// nothing after the first object would go either.
		if s.repairing && s.resend.n >= capacity {
			break
		}
		if s.transmit(s.tx.head, now, emit) {
			n++
		}
	}
	// Control messages go after the data queued before them, in their
	// own order (an ACK of a range before the NACK of the gap after it):
	// an ACK numbered after everything we had queued when it was written
	// is what tells a peer waiting for our whole table (Resync) that it
	// has all of it. Held-back data (repairing) does not hold them up;
	// a bulk send, which a table is sent as, is never held back.
	for s.ctl.head != nilIdx {
		s.transmit(s.ctl.head, now, emit)
		n++
	}
	if s.repairing && s.lost.n == 0 && s.tx.n == 0 && !s.resyncWanted {
		s.repairing = false
	}
	if n > 0 {
		s.aliveAt = now.Add(s.cfg.AliveInterval)
	}
}

func (s *Session[K, O]) startRepair(now time.Time) {
	if !s.repairing || s.resend.n > s.cfg.ResendQueueSize/2 {
		return
	}
	if s.lost.head != nilIdx {
		s.stats.Repairs++
		for s.lost.head != nilIdx {
			s.requeue(s.lost.head)
		}
	}
	// A bulk send is expensive and makes more traffic, hence more gaps and
	// NACKs that can overflow a small queue again: at most one request per
	// resyncHoldoff alive intervals, or the two nodes feed each other.
	if s.resyncWanted && !now.Before(s.resyncAt) {
		s.resyncWanted = false
		s.resyncAt = now.Add(resyncHoldoff * s.cfg.AliveInterval)
		s.stats.RepairResyncs++
		s.queueCtl(wire.FlagResync, 0, 0)
	}
}

// transmit sends entry i; false when it was a keyless object that is
// gone, dropped unsent.
func (s *Session[K, O]) transmit(i int32, now time.Time, emit func(*wire.Message)) bool {
	m := &s.msg
	*m = wire.Message{}
	e := &s.entries[i]
	if e.ctl == 0 {
		st := e.obj.Status()
		if st == StatusGone {
			s.unlink(i)
			s.release(i)
			return false
		}
		m.Type = e.obj.Put(m) + wire.Type(st)
	} else {
		m.Type = wire.TypeControl
		m.Flags = e.ctl
		m.From, m.To = e.from, e.to
	}
	if s.hello == helloInit {
		s.hello = helloSay
	}
	if s.hello != helloDone {
		m.Flags |= wire.FlagHello
	}
	if s.sayHelloBack {
		m.Flags |= wire.FlagHelloBack
		s.sayHelloBack = false
	}
	m.Seq = s.seq
	e.seq = s.seq
	e.sent = now.Sub(s.epoch)
	if e.ctl == wire.FlagResync {
		s.rs.seq, s.rs.sent = s.seq, true
	}
	s.seq++
	s.stats.Sent++
	emit(m)
	if e.ctl == wire.FlagAlive {
		s.unlink(i)
		s.release(i)
		return true
	}
	if e.keyless {
		s.move(i, &s.bulkSent, inBulkSent)
		return true
	}
	if s.resend.n >= s.cfg.ResendQueueSize {
		s.overflow()
	}
	s.move(i, &s.resend, inResend)
	return true
}

// overflow drops the oldest resend-queue entry, as conntrackd does, but
// remembers what the drop costs (see the package doc).
func (s *Session[K, O]) overflow() {
	i := s.resend.head
	s.stats.Overflows++
	s.repairing = true
	switch s.entries[i].ctl {
	case 0:
		s.move(i, &s.lost, inLost)
	case wire.FlagNack, wire.FlagResync:
		s.suspect(s.entries[i].seq)
		fallthrough
	default:
		s.unlink(i)
		s.release(i)
	}
}

// Receive processes one message from the peer, as ftfw_recv() in
// conntrackd's src/sync-ftfw.c does.
func (s *Session[K, O]) Receive(m *wire.Message) {
	s.rs.ackSeen = false
	s.receive(m)
	if s.rs.ackSeen {
		s.resyncAck(m.From, m.To)
	}
}

func (s *Session[K, O]) receive(m *wire.Message) {
	s.stats.Received++
	if m.Flags&wire.FlagHelloBack != 0 && s.hello == helloSay {
		s.hello = helloDone
	}
	if m.Flags&wire.FlagHello != 0 {
		s.sayHelloBack = true
		s.ndrop = 0 // a restarted peer will not NACK our old numbers
		if s.ackPending && before(m.Seq, s.ackFrom) {
			s.window = s.cfg.ACKWindowSize - 1
			s.ackFrom = m.Seq
		} else if s.ackPending && m.Seq != s.last+1 {
			// A HELLO skips the gap check, so the pending range must end
			// here: stretched to this number it would acknowledge the
			// numbers skipped, lost data the peer would never re-send.
			s.queueCtl(wire.FlagAck, s.ackFrom, s.last)
			s.ackPending = false
			s.window = s.cfg.ACKWindowSize
		}
		// An ACK riding on the HELLO still says what the peer got: release
		// that first, so that only what may be missing is sent again.
		if m.Type == wire.TypeControl && m.Flags&wire.FlagAck != 0 && !before(m.To, m.From) {
			s.ack(m.From, m.To)
		}
		s.helloFlush()
		s.inSequence(m)
		return
	}
	expected := s.last + 1
	switch {
	case !s.seqSet || m.Seq == expected:
		s.inSequence(m)
	case before(expected, m.Seq):
		if !s.process(m) {
			return
		}
		s.stats.Lost += uint64(m.Seq - expected)
		if s.ackPending {
			s.queueCtl(wire.FlagAck, s.ackFrom, expected-1)
		}
		s.queueCtl(wire.FlagNack, expected, m.Seq-1)
		s.window = s.cfg.ACKWindowSize - 1
		s.ackFrom = m.Seq
		s.ackPending = true
		s.last = m.Seq
	default:
		s.stats.Before++
	}
}

func (s *Session[K, O]) inSequence(m *wire.Message) {
	if !s.process(m) {
		return
	}
	if !s.ackPending {
		s.ackFrom = m.Seq
		s.ackPending = true
	}
	s.window--
	if s.window <= 0 {
		s.queueCtl(wire.FlagAck, s.ackFrom, m.Seq)
		s.window = s.cfg.ACKWindowSize
		s.ackPending = false
	}
	s.last = m.Seq
	s.seqSet = true
}

const ctlFlags = wire.FlagAck | wire.FlagNack | wire.FlagResync | wire.FlagAlive

// process applies m; it reports false for a malformed message, which then
// leaves the sequence tracking alone.
func (s *Session[K, O]) process(m *wire.Message) bool {
	if m.Type != wire.TypeControl {
		if m.Type > wire.TypeExpDelete || m.Flags&ctlFlags != 0 {
			s.stats.Malformed++
			return false
		}
		s.h.Apply(m)
		if s.rs.phase == resyncAsked || s.rs.phase == resyncAcked {
			s.rs.got++
		}
		return true
	}
	switch {
	case m.Flags&(wire.FlagAck|wire.FlagNack) != 0:
		if before(m.To, m.From) {
			s.stats.Malformed++
			return false
		}
		// ACK wins when both are set, as in conntrackd.
		nack := m.Flags&wire.FlagAck == 0
		if nack {
			s.nack(m.From, m.To)
		} else {
			s.ack(m.From, m.To)
		}
		if s.ndrop > 0 {
			s.resolve(m.From, m.To, nack)
		}
		if !nack {
			s.acks++
			// Looked at once Receive is done: a gap this message
			// shows must be NACKed first.
			s.rs.ackSeen = true
		}
	case m.Flags&wire.FlagResync != 0:
		s.stats.ResyncsRequested++
		for i := s.resend.head; i != nilIdx; {
			next := s.entries[i].next
			if s.entries[i].ctl == 0 {
				s.requeue(i)
			}
			i = next
		}
		for s.bulkSent.head != nilIdx {
			s.requeue(s.bulkSent.head)
		}
		for s.lost.head != nilIdx {
			s.requeue(s.lost.head)
		}
		s.h.BulkSend()
	case m.Flags&wire.FlagAlive != 0:
	default:
		s.stats.Malformed++
		return false
	}
	return true
}

// suspect records a dropped NACK or RESYNC; when too many are unresolved,
// ask for a resync right away.
func (s *Session[K, O]) suspect(seq uint32) {
	if s.ndrop == maxDropped {
		s.ndrop = 0
		s.resyncWanted, s.repairing = true, true
	}
	s.dropped[s.ndrop] = seq
	s.ndrop++
}

// resolve forgets the dropped control messages numbered in [from, to];
// lost says the peer reports them missing.
func (s *Session[K, O]) resolve(from, to uint32, lost bool) {
	for j := 0; j < s.ndrop; {
		if q := s.dropped[j]; !before(q, from) && !before(to, q) {
			if lost {
				s.resyncWanted, s.repairing = true, true
			}
			s.ndrop--
			s.dropped[j] = s.dropped[s.ndrop]
			continue
		}
		j++
	}
}

// helloFlush empties the resend queue on the peer's HELLO, as conntrackd
// does: the peer will never NACK our old numbers. Data objects are not
// forgotten but parked on the lost list and sent again with new numbers
// (see the package doc); control messages are dropped.
func (s *Session[K, O]) helloFlush() {
	for s.bulkSent.head != nilIdx {
		s.stats.HelloDiscarded++
		s.stats.HelloRequeued++
		s.repairing = true
		s.move(s.bulkSent.head, &s.lost, inLost)
	}
	for s.resend.head != nilIdx {
		i := s.resend.head
		s.stats.HelloDiscarded++
		switch s.entries[i].ctl {
		case 0:
			s.stats.HelloRequeued++
			s.repairing = true
			s.move(i, &s.lost, inLost)
			continue
		case wire.FlagResync:
			// Our request for the peer's table: the peer may never have
			// got it, and will not NACK it now.
			s.stats.HelloRequeued++
			s.requeue(i)
			continue
		}
		s.unlink(i)
		s.release(i)
	}
}

// ack releases the resend-queue entries sent with numbers in [from, to]; the
// queue is in transmission order, so the scan stops past to. Objects parked
// on the lost list whose last transmission is acknowledged arrived after
// all and need no repair.
func (s *Session[K, O]) ack(from, to uint32) {
	for i := s.lost.head; i != nilIdx && s.lost.n > 0; {
		e := &s.entries[i]
		next := e.next
		if !before(e.seq, from) && !before(to, e.seq) {
			s.unlink(i)
			s.release(i)
		}
		i = next
	}
	for _, l := range []*list{&s.resend, &s.bulkSent} {
		for i := l.head; i != nilIdx; {
			e := &s.entries[i]
			next := e.next
			if before(to, e.seq) {
				break
			}
			if !before(e.seq, from) {
				s.unlink(i)
				s.release(i)
			}
			i = next
		}
	}
}

// nack moves the resend-queue entries sent with numbers in [from, to] back
// to the transmit queue; numbers no longer held are silently ignored.
func (s *Session[K, O]) nack(from, to uint32) {
	for _, l := range []*list{&s.resend, &s.bulkSent} {
		for i := l.head; i != nilIdx; {
			e := &s.entries[i]
			next := e.next
			if before(to, e.seq) {
				break
			}
			if !before(e.seq, from) {
				s.stats.Retransmitted++
				s.requeue(i)
			}
			i = next
		}
	}
}

// resyncAck moves our RESYNC request on when the peer acknowledges
// [from, to] (see Resync).
func (s *Session[K, O]) resyncAck(from, to uint32) {
	switch s.rs.phase {
	case resyncAsked:
		if s.rs.sent && !before(s.rs.seq, from) && !before(to, s.rs.seq) {
			s.rs.phase = resyncAcked
			s.rs.mark = s.seq
		}
	case resyncAcked:
		if s.nacks == 0 && !s.resyncWanted && !before(to, s.rs.mark) && before(to, s.seq) {
			s.rs.phase = resyncDone
		}
	}
}

func (s *Session[K, O]) queueCtl(flag wire.Flags, from, to uint32) {
	switch flag {
	case wire.FlagResync:
		// A new request (ours, or a repair's): the peer sends its
		// table again, and we wait for all of it.
		if s.rs.phase != resyncAsked {
			s.rs = resyncTrack{phase: resyncAsked}
		}
	case wire.FlagNack:
		s.nacks++
	}
	i := s.alloc()
	e := &s.entries[i]
	e.ctl, e.from, e.to = flag, from, to
	s.push(&s.ctl, i, inCtl)
}

// requeue puts entry i back to be sent: a data object in tx (bulkTx if
// keyless), a control message in ctl.
func (s *Session[K, O]) requeue(i int32) {
	switch e := &s.entries[i]; {
	case e.ctl != 0:
		s.move(i, &s.ctl, inCtl)
	case e.keyless:
		s.move(i, &s.bulkTx, inBulkTx)
	default:
		s.move(i, &s.tx, inTx)
	}
}

// before reports whether a precedes b in serial-number arithmetic.
func before(a, b uint32) bool { return int32(a-b) < 0 }

func (s *Session[K, O]) alloc() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	s.entries = append(s.entries, entry[K, O]{})
	return int32(len(s.entries) - 1)
}

// compactMin is the number of entries below which compact leaves the
// session alone: small sessions are not worth the copy.
const compactMin = 1 << 16

// compact gives memory back after a bulk send: the entries of a million
// objects, once acknowledged, would otherwise stay allocated (about 100
// bytes each) for the session's life. When three quarters of the entries
// are free, the live ones are copied into a slice of their own size and
// every index to them (the queues' links, the key map) is renumbered.
// It runs where no index is held: at the start of a transmission.
func (s *Session[K, O]) compact() {
	if len(s.entries) < compactMin || 4*len(s.free) < 3*len(s.entries) {
		return
	}
	const gone = -2 // a free entry's new index
	at := make([]int32, len(s.entries))
	for _, i := range s.free {
		at[i] = gone
	}
	live := len(s.entries) - len(s.free)
	entries := make([]entry[K, O], 0, max(live, compactMin/4))
	for i := range s.entries {
		if at[i] == gone {
			continue
		}
		at[i] = int32(len(entries))
		entries = append(entries, s.entries[i])
	}
	move := func(i int32) int32 {
		if i == nilIdx {
			return nilIdx
		}
		return at[i]
	}
	for i := range entries {
		e := &entries[i]
		e.prev, e.next = move(e.prev), move(e.next)
		if e.ctl == 0 && !e.keyless {
			s.keys[e.key] = int32(i)
		}
	}
	for _, l := range []*list{&s.tx, &s.ctl, &s.resend, &s.lost, &s.bulkTx, &s.bulkSent} {
		l.head, l.tail = move(l.head), move(l.tail)
	}
	s.entries = entries
	s.free = nil
}

// release frees an unlinked entry.
func (s *Session[K, O]) release(i int32) {
	e := &s.entries[i]
	if e.ctl == wire.FlagNack {
		s.nacks--
	}
	if e.ctl == 0 {
		if !e.keyless {
			delete(s.keys, e.key)
		}
		if r, ok := any(e.obj).(Releaser); ok {
			r.Released()
		}
	}
	*e = entry[K, O]{}
	s.free = append(s.free, i)
}

func (s *Session[K, O]) listOf(where uint8) *list {
	switch where {
	case inTx:
		return &s.tx
	case inResend:
		return &s.resend
	case inLost:
		return &s.lost
	case inCtl:
		return &s.ctl
	case inBulkTx:
		return &s.bulkTx
	case inBulkSent:
		return &s.bulkSent
	}
	return nil
}

func (s *Session[K, O]) push(l *list, i int32, where uint8) {
	e := &s.entries[i]
	e.where, e.prev, e.next = where, l.tail, nilIdx
	if l.tail == nilIdx {
		l.head = i
	} else {
		s.entries[l.tail].next = i
	}
	l.tail = i
	l.n++
}

func (s *Session[K, O]) unlink(i int32) {
	e := &s.entries[i]
	l := s.listOf(e.where)
	if l == nil {
		return
	}
	if e.prev == nilIdx {
		l.head = e.next
	} else {
		s.entries[e.prev].next = e.next
	}
	if e.next == nilIdx {
		l.tail = e.prev
	} else {
		s.entries[e.next].prev = e.prev
	}
	l.n--
	e.where, e.prev, e.next = inNone, nilIdx, nilIdx
}

func (s *Session[K, O]) move(i int32, l *list, where uint8) {
	s.unlink(i)
	s.push(l, i, where)
}
