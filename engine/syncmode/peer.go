package syncmode

import (
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// peer is the session with one peer: its Sender, and its FT-FW session or
// its NOTRACK sequence tracking.
type peer struct {
	m     *Mode
	index int
	send  Sender

	// sess holds, per key, the peer's object (FT-FW).
	sess *ftfw.Session[objKey, *ftObj]
	// pack is packMsg, bound once: FlushTo hands it each message.
	// packErr is the first error of the Flush in progress.
	pack    func(*wire.Message)
	packErr error

	// bulk: the peer asked for a bulk send (a RESYNC), done at the next
	// Flush: a datagram of RESYNCs (a hostile or confused peer) then
	// costs one walk of the cache, not one each.
	bulk bool

	// NOTRACK: the next sequence number expected (src/network.c's
	// mcast_track_seq).
	seqSet bool
	next   uint32

	// watch follows the peer for PeerState.
	watch peerWatch
}

// track counts the numbers a NOTRACK peer skipped. A number before the
// expected one (a restarted peer) resynchronises silently, as conntrackd does.
func (p *peer) track(seq uint32) {
	if p.seqSet && int32(seq-p.next) > 0 {
		p.m.stats.Lost += uint64(seq - p.next)
	}
	p.seqSet, p.next = true, seq+1
}

// packMsg packs one message of p's session into the datagram being
// built, as Flush streams them.
func (p *peer) packMsg(msg *wire.Message) {
	if err := p.m.pack(msg, p); err != nil && p.packErr == nil {
		p.packErr = err
	}
}

// Apply implements ftfw.Handler.
func (p *peer) Apply(msg *wire.Message) { p.m.apply(msg, p.m.now) }

// BulkSend implements ftfw.Handler: the peer sent a RESYNC request.
func (p *peer) BulkSend() {
	p.m.stats.Bulks++
	p.bulk = true
}

// ftObj is what an FT-FW session holds for one key: the internal-cache
// object it sends. The state and contents are read at transmission.
type ftObj struct {
	p   *peer
	key objKey
	ref cache.Ref
	// bulk: a flow of a bulk send, queued without its key
	// (ftfw.Session.Add): sent while the cache has it alive by ref, else
	// dropped (ftfw.StatusGone). A flow destroyed meanwhile has its
	// DELETE queued with its key; one replaced by a new object of the
	// same key, that object's message; one flushed from the cache is
	// not sent, as it would not be by a bulk send started after.
	bulk bool
	// last is an expectation's content when last read, sent should the
	// cache lose it (see current): unlike a flow, an expectation cannot
	// be sent as a bare key, the peer needs its master and mask.
	last *cache.Expect
}

func (o *ftObj) objRef() objRef { return objRef{Ref: o.ref, exp: o.key.exp} }

// Status implements ftfw.Object.
func (o *ftObj) Status() ftfw.Status {
	if o.bulk {
		switch o.p.m.internal.State(o.ref) {
		case cache.New:
			return ftfw.StatusNew
		case cache.Alive:
			return ftfw.StatusAlive
		}
		return ftfw.StatusGone
	}
	switch o.current() {
	case cache.New:
		return ftfw.StatusNew
	case cache.Dead:
		return ftfw.StatusDead
	}
	return ftfw.StatusAlive
}

// current returns the state of the object o sends. When the cache no longer
// has it (a flush of the internal cache, conntrackd -f internal, then maybe
// a reload from the kernel, -R), the object of that key is sent if the cache
// has it again, else an UPDATE of the bare key (of an expectation, its last
// content): conntrackd would send the flushed object's last state, which is
// gone here, and a DELETE would wrongly take the object from the peer, whose
// table a flush of ours does not change.
func (o *ftObj) current() cache.State {
	m := o.p.m
	if st := m.state(o.objRef()); st != 0 {
		return st
	}
	var r cache.Ref
	var ok bool
	if o.key.exp {
		if m.intExp == nil {
			return 0
		}
		k := o.key.key.Key()
		r, ok = m.intExp.Find(cache.ExpKey{Tuple: k.Orig, Zone: k.Zone})
	} else {
		r, ok = m.internal.Find(o.key.key.Key())
	}
	if ok {
		o.ref = r
		return m.state(o.objRef())
	}
	return 0
}

// Put implements ftfw.Object.
func (o *ftObj) Put(msg *wire.Message) wire.Type {
	m := o.p.m
	if o.bulk {
		// Status said the cache has it.
		m.internal.Get(o.ref, &m.entry)
		m.conv.ToWire(&msg.Flow, &m.entry.Flow)
		return wire.TypeCTNew
	}
	if o.key.exp {
		if o.current() != 0 && m.intExp.Get(o.ref, &m.expEntry) {
			o.remember(&m.expEntry.Expect)
		}
		if m.expConv.ToWire != nil {
			m.expConv.ToWire(&msg.Exp, o.last)
		}
		return wire.TypeExpNew
	}
	if o.current() != 0 && m.internal.Get(o.ref, &m.entry) {
		m.conv.ToWire(&msg.Flow, &m.entry.Flow)
	} else {
		k := o.key.key.Key()
		m.flow = cache.Flow{Orig: k.Orig, Zone: k.Zone}
		m.conv.ToWire(&msg.Flow, &m.flow)
	}
	return wire.TypeCTNew
}

func (o *ftObj) remember(e *cache.Expect) {
	if o.last == nil {
		o.last = new(cache.Expect)
	}
	*o.last = *e
}

// Released implements ftfw.Releaser: the peer acknowledged the object's last
// message. A destroyed object leaves the internal cache once every session
// has let it go (src/sync-ftfw.c keeps a reference until the ACK).
func (o *ftObj) Released() {
	m := o.p.m
	if !o.bulk {
		m.dropHold(o.objRef()) // a bulk object holds nothing
	}
	if len(m.free) >= maxFree {
		return // the garbage collector takes it
	}
	last := o.last
	*o = ftObj{last: last} // the expectation's copy is reused
	m.free = append(m.free, o)
}

// maxFree bounds the objects kept for reuse: as many as conntrackd's
// default resend queue holds unacknowledged, what a steady stream of
// changes needs. A bulk send of a million allocates one per flow at once;
// kept, they would stay in the daemon's memory (about 90 bytes per flow)
// long after it ended.
const maxFree = ftfw.DefaultResendQueueSize

func (m *Mode) dropHold(r objRef) {
	n, ok := m.deadHolds[r]
	if !ok {
		return
	}
	if n <= 1 {
		delete(m.deadHolds, r)
		m.remove(r)
		return
	}
	m.deadHolds[r] = n - 1
}

// enqueueFTFW queues internal object r for peer only (a bulk send it asked
// for) or for every peer.
func (m *Mode) enqueueFTFW(r objRef, st cache.State, only *peer) {
	var key objKey
	if r.exp {
		if !m.intExp.Get(r.Ref, &m.expEntry) {
			return
		}
		key = expKey(m.expEntry.Expect.Key())
	} else {
		if !m.internal.Get(r.Ref, &m.entry) {
			return
		}
		key = flowKey(m.entry.Flow.Key())
	}
	dead := st == cache.Dead
	if dead {
		if _, ok := m.deadHolds[r]; ok {
			dead = false // already counted: each session holds it once
		}
	}
	holds := 0
	for _, p := range m.peers {
		if only != nil && p != only {
			continue
		}
		slot, ok := p.sess.Upsert(key)
		o := *slot
		if !ok {
			o = m.newObj()
			o.p, o.key, o.ref = p, key, r.Ref
			*slot = o
			if dead {
				holds++
			}
		} else if o.ref != r.Ref {
			// A new object took the key while the session still held the
			// old one: the slot, and its one release, now stand for r.
			m.dropHold(o.objRef())
			o.ref = r.Ref
			if dead {
				holds++
			}
		} else if dead {
			holds++ // the slot already held r alive; its release now ends the DEL
		}
		if r.exp {
			o.remember(&m.expEntry.Expect)
		}
	}
	if dead {
		if holds == 0 {
			m.remove(r)
		} else {
			m.deadHolds[r] = holds
		}
	}
}

func (m *Mode) newObj() *ftObj {
	if n := len(m.free); n > 0 {
		o := m.free[n-1]
		m.free = m.free[:n-1]
		return o
	}
	return new(ftObj)
}
