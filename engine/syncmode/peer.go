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

	sess *ftfw.Session[cache.Key, *ftObj]
	objs map[cache.Key]*ftObj // FT-FW: what sess holds, one per key

	// NOTRACK: the next sequence number expected (src/network.c's
	// mcast_track_seq).
	seqSet bool
	next   uint32
}

// track counts the numbers a NOTRACK peer skipped. A number before the
// expected one (a restarted peer) resynchronises silently, as conntrackd does.
func (p *peer) track(seq uint32) {
	if p.seqSet && int32(seq-p.next) > 0 {
		p.m.stats.Lost += uint64(seq - p.next)
	}
	p.seqSet, p.next = true, seq+1
}

// Apply implements ftfw.Handler.
func (p *peer) Apply(msg *wire.Message) { p.m.apply(msg, p.m.now) }

// BulkSend implements ftfw.Handler: the peer sent a RESYNC request.
func (p *peer) BulkSend() {
	p.m.stats.Bulks++
	p.m.bulkTo(p)
}

// ftObj is what an FT-FW session holds for one key: the internal-cache
// object it sends. The state and contents are read at transmission.
type ftObj struct {
	p   *peer
	key cache.Key
	ref cache.Ref
}

// Status implements ftfw.Object.
func (o *ftObj) Status() ftfw.Status {
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
// a reload from the kernel, -R), the flow of that key is sent if the cache
// has it again, else an UPDATE of the bare key: conntrackd would send the
// flushed object's last state, which is gone here, and a DELETE would wrongly
// take the flow from the peer, whose table a flush of ours does not change.
func (o *ftObj) current() cache.State {
	m := o.p.m
	if st := m.internal.State(o.ref); st != 0 {
		return st
	}
	if r, ok := m.internal.Find(o.key); ok {
		o.ref = r
		return m.internal.State(r)
	}
	return 0
}

// Put implements ftfw.Object.
func (o *ftObj) Put(msg *wire.Message) wire.Type {
	m := o.p.m
	if o.current() != 0 && m.internal.Get(o.ref, &m.entry) {
		m.conv.ToWire(&msg.Flow, &m.entry.Flow)
	} else {
		m.flow = cache.Flow{Orig: o.key.Orig, Zone: o.key.Zone}
		m.conv.ToWire(&msg.Flow, &m.flow)
	}
	return wire.TypeCTNew
}

// Released implements ftfw.Releaser: the peer acknowledged the object's last
// message. A destroyed object leaves the internal cache once every session
// has let it go (src/sync-ftfw.c keeps a reference until the ACK).
func (o *ftObj) Released() {
	m := o.p.m
	delete(o.p.objs, o.key)
	m.dropHold(o.ref)
	*o = ftObj{}
	m.free = append(m.free, o)
}

func (m *Mode) dropHold(r cache.Ref) {
	n, ok := m.deadHolds[r]
	if !ok {
		return
	}
	if n <= 1 {
		delete(m.deadHolds, r)
		m.internal.Remove(r)
		return
	}
	m.deadHolds[r] = n - 1
}

// enqueueFTFW queues internal object r for peer only (a bulk send it asked
// for) or for every peer.
func (m *Mode) enqueueFTFW(r cache.Ref, st cache.State, only *peer) {
	if !m.internal.Get(r, &m.entry) {
		return
	}
	key := m.entry.Flow.Key()
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
		o, ok := p.objs[key]
		if !ok {
			o = m.newObj()
			o.p, o.key, o.ref = p, key, r
			p.objs[key] = o
			if dead {
				holds++
			}
		} else if o.ref != r {
			// A new object took the key while the session still held the
			// old one: the slot, and its one release, now stand for r.
			m.dropHold(o.ref)
			o.ref = r
			if dead {
				holds++
			}
		} else if dead {
			holds++ // the slot already held r alive; its release now ends the DEL
		}
		p.sess.Enqueue(key, o)
	}
	if dead {
		if holds == 0 {
			m.internal.Remove(r)
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
