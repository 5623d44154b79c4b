package syncmode

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// Kind names a sync mode.
type Kind uint8

// The modes.
const (
	FTFW Kind = iota + 1
	NoTrack
	Alarm
)

func (k Kind) String() string {
	switch k {
	case FTFW:
		return "FTFW"
	case NoTrack:
		return "NOTRACK"
	case Alarm:
		return "ALARM"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Sender carries one datagram of whole messages to a peer (a link.Group).
type Sender interface {
	Send(datagram []byte) error
}

// Convert holds the conversions the mode needs, which the engine provides
// (engine.WireFromCache with its options bound, engine.CacheFromWire,
// engine.ResolvePorts).
type Convert struct {
	ToWire       func(dst *wire.Flow, f *cache.Flow)
	FromWire     func(dst *cache.Flow, w *wire.Flow) error
	ResolvePorts func(f *cache.Flow, known func(cache.Key) bool)
}

// ExpectConvert holds the expectation conversions (engine.WireExpectFromCache
// with its options bound, engine.CacheExpectFromWire).
type ExpectConvert struct {
	ToWire   func(dst *wire.Expect, e *cache.Expect)
	FromWire func(dst *cache.Expect, w *wire.Expect) error
}

// Settings configure a Mode.
type Settings struct {
	Kind Kind
	// MaxDatagram is the largest datagram handed to a Sender
	// (link.Link.MaxDatagram); messages are packed up to it.
	MaxDatagram int
	// FTFW configures each peer's session; the engine sets
	// ResendTimeout = ftfw.DefaultResendTimeout.
	FTFW ftfw.Config
	// RefreshTime is ALARM's upper bound of the refresh period.
	RefreshTime time.Duration
	// Rand draws ALARM's refresh delays; nil: a generator of the Mode's own.
	Rand *rand.Rand
	// Inject takes each received flow when there is no external cache
	// (DisableExternalCache): the engine writes it to the kernel, as
	// conntrackd's src/external_inject.c does. typ is the message type
	// (NEW, UPDATE, DELETE); f is only valid during the call. Known then
	// says whether the kernel has a flow, for the port check of
	// engine.ResolvePorts; nil: nothing known.
	Inject func(typ wire.Type, f *cache.Flow)
	Known  func(cache.Key) bool
	// InjectExpect takes each received expectation when SetExpectations
	// was given no external expectation cache, as Inject does flows; e
	// is only valid during the call. nil: they are counted
	// (Stats.ExpIgnored) and dropped.
	InjectExpect func(typ wire.Type, e *cache.Expect)
	// BulkDirect, without an internal cache (NOTRACK only), sends the
	// kernel's table for a bulk send or a peer's RESYNC: the engine
	// dumps it through Direct as NEW messages.
	BulkDirect func()
}

// Stats are a mode's counters.
type Stats struct {
	Datagrams, Messages uint64 // sent, per peer summed
	SendErrors          uint64
	Received            uint64 // messages decoded
	Malformed           uint64 // datagrams that did not decode to the end
	Lost                uint64 // sequence numbers skipped by a peer (in FT-FW, its session's)
	Applied             uint64 // data messages applied to the external cache
	Rejected            uint64 // data messages the conversion refused
	ExpIgnored          uint64 // expectation messages without SetExpectations
	Refreshes           uint64 // ALARM: objects re-queued by their timer
	Expired             uint64 // ALARM: external objects aged out
	Bulks               uint64 // bulk sends (RESYNC answered or BulkSend)
}

// Mode is one sync mode between this node's caches and its peers. It is not
// safe for concurrent use: the engine drives it from one goroutine.
type Mode struct {
	s        Settings
	conv     Convert
	internal *cache.Flows
	external *cache.Flows
	peers    []*peer
	stats    Stats

	// Expectations, when SetExpectations turned them on.
	expOn          bool
	expConv        ExpectConvert
	intExp, extExp *cache.Expects

	// NOTRACK and ALARM: one transmit queue, one slot per object.
	tx     []objRef
	queued map[objRef]struct{}
	seq    uint32
	ctl    wire.Flags // NOTRACK: a pending control message (RESYNC)
	direct bool       // NOTRACK bypass: buf holds messages Direct packed
	idleAt time.Time  // NOTRACK: when an ALIVE is due

	// FT-FW: destroyed objects and how many sessions still hold their DEL.
	deadHolds map[objRef]int
	free      []*ftObj

	alarm alarmTimers

	now     time.Time            // of the Receive in progress
	knownFn func(cache.Key) bool // m.known, bound once

	// scratch
	buf      []byte
	msg      wire.Message
	flow     cache.Flow
	entry    cache.Entry
	exp      cache.Expect
	expEntry cache.ExpEntry
}

// objRef names an object of either internal cache: a cache.Ref is only
// unique within its cache, and the queues and timers hold both kinds.
type objRef struct {
	cache.Ref
	exp bool
}

// objKey is what an FT-FW session keys its objects by: a flow's key, or
// an expectation's (its expected tuple and zone, the same shape), apart.
// The key is packed: two maps per peer hold one per flow, and a bulk send
// of a million flows spent most of its time hashing, comparing and
// scanning netip.Addr-laden keys.
type objKey struct {
	key cache.PackedKey
	exp bool
}

func flowKey(k cache.Key) objKey { return objKey{key: k.Pack()} }

func expKey(k cache.ExpKey) objKey {
	return objKey{key: cache.Key{Orig: k.Tuple, Zone: k.Zone}.Pack(), exp: true}
}

// New returns a Mode over the internal and external caches with one
// session per peer. The internal cache is required; the external one may be
// nil (disabled): received flows then go to Settings.Inject.
func New(s Settings, conv Convert, internal, external *cache.Flows, peers []Sender, now time.Time) (*Mode, error) {
	if s.Kind < FTFW || s.Kind > Alarm {
		return nil, fmt.Errorf("syncmode: unknown mode %v", s.Kind)
	}
	if internal == nil && s.Kind != NoTrack {
		// FT-FW and ALARM send again from the internal cache.
		return nil, fmt.Errorf("syncmode: %v needs an internal cache; only NOTRACK runs without", s.Kind)
	}
	if conv.ToWire == nil || conv.FromWire == nil {
		return nil, errors.New("syncmode: conversions missing")
	}
	if s.MaxDatagram < wire.HeaderLen*2 {
		return nil, fmt.Errorf("syncmode: MaxDatagram %d too small", s.MaxDatagram)
	}
	if s.Kind == Alarm && s.RefreshTime < time.Second {
		return nil, fmt.Errorf("syncmode: ALARM RefreshTime %v below one second", s.RefreshTime)
	}
	if s.Rand == nil {
		s.Rand = rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x63747379))
	}
	m := &Mode{
		s: s, conv: conv, internal: internal, external: external,
		queued:    make(map[objRef]struct{}),
		deadHolds: make(map[objRef]int),
		seq:       uint32(now.Unix()), // conntrackd's first number (src/network.c)
		idleAt:    now.Add(time.Second),
	}
	m.alarm.init()
	m.knownFn = m.known
	if external == nil {
		m.knownFn = s.Known
	}
	for i, snd := range peers {
		p := &peer{m: m, index: i, send: snd}
		p.pack = p.packMsg
		if s.Kind == FTFW {
			p.sess = ftfw.New[objKey, *ftObj](s.FTFW, p, now)
		}
		m.peers = append(m.peers, p)
	}
	return m, nil
}

// Stats returns the counters.
func (m *Mode) Stats() Stats {
	s := m.stats
	// FT-FW's sessions track the sequence themselves; their gaps are
	// the lost messages conntrackd counts in every mode (src/network.c).
	for _, p := range m.peers {
		if p.sess != nil {
			s.Lost += p.sess.Stats().Lost
		}
	}
	return s
}

// SessionStats returns the FT-FW counters of peer i's session; false in
// the other modes or for an unknown peer.
func (m *Mode) SessionStats(i int) (ftfw.Stats, bool) {
	if i < 0 || i >= len(m.peers) || m.peers[i].sess == nil {
		return ftfw.Stats{}, false
	}
	return m.peers[i].sess.Stats(), true
}

// Queued returns the lengths of peer i's FT-FW transmit and resend
// queues; false in the other modes or for an unknown peer.
func (m *Mode) Queued(i int) (tx, resend int, ok bool) {
	if i < 0 || i >= len(m.peers) || m.peers[i].sess == nil {
		return 0, 0, false
	}
	tx, resend, _ = m.peers[i].sess.Queued()
	return tx, resend, true
}

// Kind returns the mode.
func (m *Mode) Kind() Kind { return m.s.Kind }

// Local tells the mode that the engine changed internal-cache object r from
// a kernel event not caused by ourselves (Replace, Update or Kill): it is
// queued for every peer. The message type is chosen when it is sent, from
// the object's state then (src/sync-mode.c, src/queue_tx.c).
func (m *Mode) Local(r cache.Ref, now time.Time) {
	if m.internal == nil {
		return // the bypass sends with Direct
	}
	m.local(objRef{Ref: r}, now)
}

// SetExpectations turns on the replication of expectations (conntrackd's
// ExpectationSync): internal is the cache of this node's expectations,
// which the engine changes and reports with LocalExpect; external, which
// may be nil (DisableExternalCache), receives the peers' (nil: they go to
// Settings.InjectExpect). A nil internal cache turns them off again:
// nothing more is sent or taken, FT-FW sends what it still holds as last
// read.
// Without them, expectation messages received are counted
// (Stats.ExpIgnored) and dropped. Call it before the first Local; it
// panics when conv lacks a conversion, a mistake of the caller's.
func (m *Mode) SetExpectations(internal, external *cache.Expects, conv ExpectConvert) {
	if internal == nil {
		m.expOn, m.intExp, m.extExp = false, nil, nil
		return
	}
	if conv.ToWire == nil || conv.FromWire == nil {
		panic("syncmode: SetExpectations without both conversions")
	}
	m.expOn, m.intExp, m.extExp, m.expConv = true, internal, external, conv
}

// LocalExpect is Local for internal expectation-cache object r: an
// expectation the engine created (Replace) or destroyed (Kill) from a
// kernel event is queued for every peer. Without SetExpectations it does
// nothing.
func (m *Mode) LocalExpect(r cache.Ref, now time.Time) {
	if !m.expOn {
		return
	}
	m.local(objRef{Ref: r, exp: true}, now)
}

func (m *Mode) local(r objRef, now time.Time) {
	st := m.state(r)
	if st == 0 {
		return // refused (cache full) or already gone: nothing to send
	}
	switch m.s.Kind {
	case FTFW:
		m.enqueueFTFW(r, st, nil)
	case Alarm:
		if st == cache.Dead {
			m.alarm.stop(r)
		} else {
			m.alarm.arm(r, now, m.refreshDelay())
		}
		m.enqueue(r)
	default:
		m.enqueue(r)
	}
}

// state is the state of the internal object r names (0: none).
func (m *Mode) state(r objRef) cache.State {
	if r.exp {
		if m.intExp == nil {
			return 0 // turned off while queued
		}
		return m.intExp.State(r.Ref)
	}
	return m.internal.State(r.Ref)
}

// remove takes a destroyed object out of its internal cache once its DEL
// needs no keeping.
func (m *Mode) remove(r objRef) {
	if r.exp {
		if m.intExp != nil {
			m.intExp.Remove(r.Ref)
		}
	} else {
		m.internal.Remove(r.Ref)
	}
}

// put writes internal object r's message body into msg and returns the
// message type its state calls for; false if r is gone.
func (m *Mode) put(msg *wire.Message, r objRef) (wire.Type, bool) {
	if r.exp {
		if m.intExp == nil || !m.intExp.Get(r.Ref, &m.expEntry) {
			return 0, false
		}
		m.expConv.ToWire(&msg.Exp, &m.expEntry.Expect)
		return wire.TypeExpNew + msgType(m.expEntry.State), true
	}
	if !m.internal.Get(r.Ref, &m.entry) {
		return 0, false
	}
	m.conv.ToWire(&msg.Flow, &m.entry.Flow)
	return wire.TypeCTNew + msgType(m.entry.State), true
}

// Stored tells the mode that the engine stored internal-cache object r
// without a change to send: a dump that does not send (start-up, -R) or
// the event of our own commit. ALARM (re)arms its refresh timer, as
// conntrackd does whenever an object enters the cache or changes in it,
// however (src/sync-alarm.c, cache_alarm_add and cache_alarm_update):
// else such a flow would never reach the peer, not even after a
// fail-over. The other modes do nothing: such objects go out with the
// next bulk send.
func (m *Mode) Stored(r cache.Ref, now time.Time) {
	if m.s.Kind != Alarm {
		return
	}
	if m.internal == nil {
		return
	}
	if st := m.internal.State(r); st == 0 || st == cache.Dead {
		return
	}
	m.alarm.arm(objRef{Ref: r}, now, m.refreshDelay())
}

// enqueue puts r in the shared transmit queue unless it is there already.
func (m *Mode) enqueue(r objRef) {
	if _, ok := m.queued[r]; ok {
		return
	}
	m.queued[r] = struct{}{}
	m.tx = append(m.tx, r)
}

// BulkSend queues every live internal object for every peer (conntrackd -B).
// ALARM does nothing: its timers re-send everything anyway.
func (m *Mode) BulkSend() {
	if m.s.Kind == Alarm {
		return
	}
	m.stats.Bulks++
	for _, p := range m.peers {
		m.bulkTo(p)
	}
}

func (m *Mode) bulkTo(p *peer) {
	if m.internal == nil {
		// NOTRACK without an internal cache: the engine sends the
		// kernel's table (src/sync-notrack.c).
		if m.s.BulkDirect != nil {
			m.s.BulkDirect()
		}
		return
	}
	queue := func(r objRef, st cache.State) {
		if st == cache.Dead {
			return
		}
		if m.s.Kind == FTFW {
			m.enqueueFTFW(r, st, p)
		} else {
			m.enqueue(r)
		}
	}
	if m.s.Kind == FTFW {
		// The flows go out keyless (ftfw.Session.Add): a million
		// insertions into the session's key map, and as many deletions
		// once acknowledged, were most of a bulk send's time. What of
		// an earlier bulk still waits is queued again here.
		p.sess.DropUnsent()
		n := m.internal.Len()
		if m.expOn {
			n += m.intExp.Len()
		}
		p.sess.Reserve(n)
		for r, e := range m.internal.All() {
			if e.State == cache.Dead {
				continue // its DELETE is queued with its key
			}
			o := m.newObj()
			o.p, o.ref, o.bulk = p, r, true
			p.sess.Add(o)
		}
	} else {
		for r, e := range m.internal.All() {
			queue(objRef{Ref: r}, e.State)
		}
	}
	// Expectations after the flows, as conntrackd's bulk send does
	// (src/sync-mode.c): their masters must reach the peer first.
	if m.expOn {
		for r, e := range m.intExp.All() {
			queue(objRef{Ref: r, exp: true}, e.State)
		}
	}
}

// Direct sends f at the next Flush as a message of type typ (CT NEW,
// UPDATE or DELETE) to every peer: NOTRACK without an internal cache,
// where kernel events go straight to the link (conntrackd's
// src/internal_bypass.c). In the other modes, or with an internal cache,
// it does nothing.
func (m *Mode) Direct(typ wire.Type, f *cache.Flow) error {
	if m.internal != nil || m.s.Kind != NoTrack {
		return nil
	}
	m.msg = wire.Message{}
	m.conv.ToWire(&m.msg.Flow, f)
	m.msg.Type = typ
	m.msg.Seq = m.seq
	m.seq++
	if !m.direct && len(m.tx) == 0 && m.ctl == 0 {
		m.buf = m.buf[:0]
	}
	m.direct = true
	return m.pack(&m.msg, nil)
}

// RequestResync asks the peers for their whole table (conntrackd -n).
// ALARM has no control messages: nothing is sent.
func (m *Mode) RequestResync() {
	switch m.s.Kind {
	case FTFW:
		for _, p := range m.peers {
			p.sess.RequestResync()
		}
	case NoTrack:
		m.ctl = wire.FlagResync
		for _, p := range m.peers {
			p.asked()
		}
	}
}

// NextTimer is when Tick next has something to do.
func (m *Mode) NextTimer() time.Time {
	var t time.Time
	earliest := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	switch m.s.Kind {
	case FTFW:
		for _, p := range m.peers {
			earliest(p.sess.NextTimer())
		}
	case NoTrack:
		earliest(m.idleAt)
	case Alarm:
		earliest(m.alarm.next())
		if m.external != nil {
			if u, ok := m.external.NextExpiry(); ok {
				earliest(u)
			}
		}
		if m.extExp != nil {
			if u, ok := m.extExp.NextExpiry(); ok {
				earliest(u)
			}
		}
	}
	return t
}

// Tick runs the timers due by now: FT-FW's alive and resend timers,
// NOTRACK's ALIVE, ALARM's refreshes and the external cache's expiry.
// Call Flush afterwards.
func (m *Mode) Tick(now time.Time) {
	switch m.s.Kind {
	case FTFW:
		for _, p := range m.peers {
			p.sess.Tick(now)
		}
	case NoTrack:
		for _, p := range m.peers {
			if p.reaskDue(now) {
				m.ctl = wire.FlagResync
			}
		}
		if !now.Before(m.idleAt) && m.ctl == 0 && len(m.tx) == 0 {
			m.ctl = wire.FlagAlive
		}
	case Alarm:
		for {
			r, ok := m.alarm.due(now)
			if !ok {
				break
			}
			if st := m.state(r); st == 0 || st == cache.Dead {
				m.alarm.stop(r)
				continue
			}
			m.stats.Refreshes++
			m.alarm.arm(r, now, m.refreshDelay())
			m.enqueue(r)
		}
		if m.external != nil {
			m.stats.Expired += uint64(m.external.Expire(now))
		}
		if m.extExp != nil {
			m.stats.Expired += uint64(m.extExp.Expire(now))
		}
	}
}

// refreshDelay is conntrackd's ALARM timer (src/sync-alarm.c): a random whole
// number of seconds from 1 to RefreshTime, plus 0.2 to 1.0 s, so that the
// refreshes of flows created together spread out.
func (m *Mode) refreshDelay() time.Duration {
	secs := int64(m.s.RefreshTime / time.Second)
	us := (m.s.Rand.Int64N(5)+1)*200000 - 1
	return time.Duration(m.s.Rand.Int64N(secs)+1)*time.Second + time.Duration(us)*time.Microsecond
}

// Flush transmits what is queued. A send error is counted and returned
// (the first one); the state moves on regardless, as conntrackd's does: FT-FW
// recovers the loss, NOTRACK and ALARM accept it.
func (m *Mode) Flush(now time.Time) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, p := range m.peers {
		if p.bulk {
			p.bulk = false
			m.bulkTo(p)
		}
	}
	if m.s.Kind == FTFW {
		for _, p := range m.peers {
			p.watchQueue(now)
			m.buf = m.buf[:0]
			p.packErr = nil
			p.sess.FlushTo(now, p.pack)
			keep(p.packErr)
			keep(m.sendBuf(p))
		}
		return first
	}
	if len(m.tx) == 0 && m.ctl == 0 && !m.direct {
		return nil
	}
	if !m.direct {
		m.buf = m.buf[:0]
	}
	m.direct = false
	if m.ctl != 0 {
		m.msg = wire.Message{}
		m.msg.Type = wire.TypeControl
		m.msg.Flags = m.ctl
		m.ctl = 0
		m.msg.Seq = m.seq
		m.seq++
		keep(m.pack(&m.msg, nil))
	}
	for _, r := range m.tx {
		delete(m.queued, r)
		m.msg = wire.Message{}
		typ, ok := m.put(&m.msg, r)
		if !ok {
			continue // removed meanwhile (flush)
		}
		m.msg.Type = typ
		m.msg.Seq = m.seq
		m.seq++
		keep(m.pack(&m.msg, nil))
		if typ == wire.TypeCTDelete || typ == wire.TypeExpDelete {
			// Released after transmission (src/sync-notrack.c,
			// src/sync-alarm.c): nothing is re-sent.
			m.remove(r)
		}
	}
	m.tx = m.tx[:0]
	keep(m.sendBuf(nil))
	m.idleAt = now.Add(time.Second)
	return first
}

func msgType(st cache.State) wire.Type {
	switch st {
	case cache.Alive:
		return wire.TypeCTUpdate - wire.TypeCTNew
	case cache.Dead:
		return wire.TypeCTDelete - wire.TypeCTNew
	}
	return 0
}

// pack appends msg to the datagram being built for p (nil: every peer) and
// sends the datagram first when msg would not fit.
func (m *Mode) pack(msg *wire.Message, p *peer) error {
	mark := len(m.buf)
	m.buf = wire.AppendMessage(m.buf, msg)
	m.stats.Messages += uint64(m.fanout(p))
	if len(m.buf) <= m.s.MaxDatagram || mark == 0 {
		return nil
	}
	err := m.sendTo(m.buf[:mark], p)
	n := copy(m.buf, m.buf[mark:])
	m.buf = m.buf[:n]
	return err
}

func (m *Mode) sendBuf(p *peer) error {
	if len(m.buf) == 0 {
		return nil
	}
	err := m.sendTo(m.buf, p)
	m.buf = m.buf[:0]
	return err
}

func (m *Mode) fanout(p *peer) int {
	if p != nil {
		return 1
	}
	return len(m.peers)
}

func (m *Mode) sendTo(b []byte, p *peer) error {
	var first error
	for _, q := range m.peers {
		if p != nil && q != p {
			continue
		}
		m.stats.Datagrams++
		if err := q.send.Send(b); err != nil {
			m.stats.SendErrors++
			if first == nil {
				first = fmt.Errorf("syncmode: send to peer %d: %w", q.index, err)
			}
		}
	}
	return first
}

// Receive processes one datagram from peer i. Messages before a malformed
// one are kept; the rest of the datagram is dropped and the error returned.
func (m *Mode) Receive(i int, datagram []byte, now time.Time) error {
	if i < 0 || i >= len(m.peers) {
		return fmt.Errorf("syncmode: no peer %d", i)
	}
	p := m.peers[i]
	applied := m.stats.Applied
	err := m.receive(p, datagram, now)
	if err == nil {
		// Garbage on the port is not the peer.
		p.heard(now, m.stats.Applied-applied)
	}
	return err
}

func (m *Mode) receive(p *peer, datagram []byte, now time.Time) error {
	i := p.index
	m.now = now
	for off := 0; off < len(datagram); {
		n, err := wire.Decode(datagram[off:], &m.msg)
		if err != nil {
			m.stats.Malformed++
			return fmt.Errorf("syncmode: peer %d: datagram byte %d: %w", i, off, err)
		}
		off += n
		m.stats.Received++
		switch m.s.Kind {
		case FTFW:
			p.sess.Receive(&m.msg)
		case NoTrack:
			p.track(m.msg.Seq)
			if m.msg.Type == wire.TypeControl {
				if m.msg.Flags&wire.FlagResync != 0 {
					m.stats.Bulks++
					p.bulk = true
				}
				continue
			}
			m.apply(&m.msg, now)
		case Alarm:
			// Control messages are ignored: a peer in another mode
			// must not upset us (src/sync-alarm.c).
			if m.msg.Type == wire.TypeControl || m.msg.Flags != 0 {
				continue
			}
			// ALARM recovers nothing, but counts the gaps for the
			// operator to see, as conntrackd's alarm_recv does
			// (src/sync-alarm.c).
			p.track(m.msg.Seq)
			m.apply(&m.msg, now)
		}
	}
	return nil
}

// apply writes one received data message into the external cache
// (src/sync-mode.c, src/external_cache.c): NEW replaces, UPD updates or
// creates, DEL removes.
func (m *Mode) apply(msg *wire.Message, now time.Time) {
	if msg.Type.IsExp() {
		m.applyExp(msg, now)
		return
	}
	if !msg.Type.IsCT() || (m.external == nil && m.s.Inject == nil) {
		return
	}
	m.flow = cache.Flow{}
	if err := m.conv.FromWire(&m.flow, &msg.Flow); err != nil {
		m.stats.Rejected++
		return
	}
	if m.conv.ResolvePorts != nil {
		m.conv.ResolvePorts(&m.flow, m.knownFn)
	}
	m.stats.Applied++
	if m.external == nil {
		m.s.Inject(msg.Type, &m.flow)
		return
	}
	switch msg.Type {
	case wire.TypeCTNew:
		m.external.Replace(&m.flow, now)
	case wire.TypeCTUpdate:
		m.external.Update(&m.flow, now)
	case wire.TypeCTDelete:
		m.external.Delete(m.flow.Key())
	}
}

// applyExp writes one received expectation message into the external
// expectation cache as apply does a flow (src/external_cache.c): NEW
// replaces, UPD updates or creates, DEL removes. Every expectation is
// taken, whatever its helper: conntrackd filters by helper name only what
// its kernel reports (src/ctnl.c), not what a peer sends.
func (m *Mode) applyExp(msg *wire.Message, now time.Time) {
	if !m.expOn || (m.extExp == nil && m.s.InjectExpect == nil) {
		m.stats.ExpIgnored++
		return
	}
	m.exp = cache.Expect{}
	if err := m.expConv.FromWire(&m.exp, &msg.Exp); err != nil {
		m.stats.Rejected++
		return
	}
	m.stats.Applied++
	if m.extExp == nil {
		m.s.InjectExpect(msg.Type, &m.exp)
		return
	}
	switch msg.Type {
	case wire.TypeExpNew:
		m.extExp.Replace(&m.exp, now)
	case wire.TypeExpUpdate:
		m.extExp.Update(&m.exp, now)
	case wire.TypeExpDelete:
		m.extExp.Delete(m.exp.Key())
	}
}

func (m *Mode) known(k cache.Key) bool {
	_, ok := m.external.Find(k)
	return ok
}
