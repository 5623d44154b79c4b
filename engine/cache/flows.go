package cache

import (
	"iter"
	"net/netip"
	"time"
)

// Attrs says which optional attributes a Flow carries: those of
// conntrackd's sync messages (src/build.c). The fields of an attribute
// not in Attrs are not stored and read back as zero.
type Attrs uint32

const (
	HasStatus    Attrs = 1 << iota // Status
	HasTimeout                     // Timeout
	HasMark                        // Mark
	HasTCPState                    // TCPState
	HasTCPWScale                   // TCPWScaleOrig, TCPWScaleReply
	HasSCTPState                   // SCTPState
	HasSCTPVTags                   // SCTPVTagOrig, SCTPVTagReply
	HasDCCPState                   // DCCPState
	HasDCCPRole                    // DCCPRole
	HasMaster                      // Master
	HasSNAT                        // SNAT
	HasDNAT                        // DNAT
	HasSNATPort                    // SNATPort
	HasDNATPort                    // DNATPort
	HasSeqAdj                      // SeqAdj
	HasSynproxy                    // Synproxy
	HasHelper                      // Helper
	HasLabels                      // Labels

	natAttrs = HasSNAT | HasDNAT | HasSNATPort | HasDNATPort
	relAttrs = HasMaster | HasHelper
	adjAttrs = HasSeqAdj | HasSynproxy | HasLabels
	allAttrs = HasLabels<<1 - 1
)

// Flow is a conntrack as the cache keeps it: what conntrackd's sync
// messages carry. The engine converts to and from the kernel's and the
// wire's forms.
type Flow struct {
	// Orig (the original tuple) and Zone are the key. Zone 0 is the
	// default zone, which the kernel does not report.
	Orig Tuple
	Zone uint16
	Has  Attrs

	Status  uint32 // kernel IPS_* bits
	Timeout uint32 // seconds
	Mark    uint32

	TCPState, TCPWScaleOrig, TCPWScaleReply uint8
	SCTPState                               uint8
	SCTPVTagOrig, SCTPVTagReply             uint32
	DCCPState, DCCPRole                     uint8

	// Master is the original tuple of the flow this one is related to.
	Master Tuple
	// SNAT and DNAT are the addresses the NAT chose, SNATPort and
	// DNATPort the ports (reply destination and reply source).
	SNAT, DNAT         netip.Addr
	SNATPort, DNATPort uint16
	// SeqAdj is the original direction's correction position, offset
	// before and offset after, then the same for the reply direction.
	SeqAdj [6]uint32
	// Synproxy is its, isn, tsoff.
	Synproxy [3]uint32
	Helper   Name
	// Labels is the connlabel bitmap (128 labels), as the kernel has it.
	Labels [16]byte
}

// Key is what identifies a cached conntrack.
type Key struct {
	Orig Tuple
	Zone uint16
}

// Key returns f's key.
func (f *Flow) Key() Key { return Key{Orig: f.Orig, Zone: f.Zone} }

// PackedKey is a Key in the cache's compact form: no pointers, 46 bytes,
// so that a map keyed by flow (an FT-FW session's) hashes and compares
// it quickly and the garbage collector does not scan it.
type PackedKey struct{ k flowKey }

// Pack returns k's compact form.
func (k Key) Pack() PackedKey { return PackedKey{packKey(&k)} }

// Key returns the key p packs.
func (p PackedKey) Key() Key { return Key{Orig: p.k.t.tuple(), Zone: p.k.zone} }

// Entry is a cached conntrack read back, with its state and times.
type Entry struct {
	Flow  Flow
	State State
	// Created is when the object was created (conntrackd's lifetime,
	// printed as "active since"); Updated when it last changed, which a
	// commit needs to age the timeout the peer sent.
	Created, Updated time.Time
}

type flowKey struct {
	t    tkey
	zone uint16
}

func (k flowKey) hash(seed uint64) uint64 {
	a, b, c, d, e := k.t.words()
	return hashWords(seed, a, b, c, d, e, k.t.small()|uint64(k.zone)<<16)
}

func (k flowKey) compare(o *flowKey) int {
	if c := k.t.compare(&o.t); c != 0 {
		return c
	}
	return int(k.zone) - int(o.zone)
}

func packKey(k *Key) flowKey { return flowKey{t: packTuple(&k.Orig), zone: k.Zone} }

// flowRec is the fixed part of a cached conntrack; nat, rel and adj are
// pool handles (0: none) for the attributes most flows lack: NAT, the
// master and helper of related and helped flows, and the rarer sequence
// adjustments, synproxy and labels.
type flowRec struct {
	status, timeout, mark uint32
	vtag                  [2]uint32
	has                   Attrs
	nat, rel, adj         uint32
	tcpState, wsOrig      uint8
	wsReply, sctpState    uint8
	dccpState, dccpRole   uint8
}

type natRec struct {
	snat, dnat         [16]byte
	snatPort, dnatPort uint16
	snatFam, dnatFam   uint8
}

type relRec struct {
	master tkey
	helper Name
}

type adjRec struct {
	seqAdj   [6]uint32
	synproxy [3]uint32
	labels   [16]byte
}

// Flows is a conntrack cache (internal or external).
type Flows struct {
	objects[flowRec]
	nat pool[natRec]
	rel pool[relRec]
	adj pool[adjRec]
}

// NewFlows returns an empty conntrack cache.
func NewFlows(s Settings) (*Flows, error) {
	c := &Flows{}
	t, err := newTable[flowKey](s, c.release)
	if err != nil {
		return nil, err
	}
	c.t = t
	return c, nil
}

func (c *Flows) release(r *flowRec) {
	if r.nat != 0 {
		c.nat.put(r.nat)
	}
	if r.rel != 0 {
		c.rel.put(r.rel)
	}
	if r.adj != 0 {
		c.adj.put(r.adj)
	}
}

// Update stores f as an update: an object with f's key that is not dead
// takes the attributes f has, keeps those f lacks, and becomes Alive;
// otherwise (no object, or a dead one, which is discarded) a New object
// is created, unless the cache is full. This is conntrackd's
// cache_update_force, used for UPDATE events, dumps and UPD messages.
func (c *Flows) Update(f *Flow, now time.Time) (Ref, Outcome) {
	k := packKey(&Key{Orig: f.Orig, Zone: f.Zone})
	slot, o := c.t.update(&k, now.UnixNano())
	return c.store(slot, o, f)
}

// Replace stores f as a new flow: any object with f's key is discarded
// (counted destroyed unless it was dead) and a New one created, unless
// the cache is full. NEW events and NEW messages do this.
func (c *Flows) Replace(f *Flow, now time.Time) (Ref, Outcome) {
	k := packKey(&Key{Orig: f.Orig, Zone: f.Zone})
	slot, o := c.t.replace(&k, now.UnixNano())
	return c.store(slot, o, f)
}

func (c *Flows) store(slot uint32, o Outcome, f *Flow) (Ref, Outcome) {
	if o == Refused {
		return Ref{}, o
	}
	c.pack(&c.t.at(slot).rec, f)
	return c.t.ref(slot), o
}

// pack stores the attributes f has into r and keeps those r has and f
// lacks: conntrackd updates an object with nfct_copy(NFCT_CP_META)
// (src/cache.c, cache_update), which copies only the attributes set. The
// kernel reports labels and sequence adjustments only in the event that
// changed them, and the TCP state only when it changed; the next message
// to the peer must still carry them. A new object's record is zero, as
// are the side records the pools hand out.
func (c *Flows) pack(r *flowRec, f *Flow) {
	has := f.Has & allAttrs
	r.has |= has
	if has&HasStatus != 0 {
		r.status = f.Status
	}
	if has&HasTimeout != 0 {
		r.timeout = f.Timeout
	}
	if has&HasMark != 0 {
		r.mark = f.Mark
	}
	if has&HasTCPState != 0 {
		r.tcpState = f.TCPState
	}
	if has&HasTCPWScale != 0 {
		r.wsOrig, r.wsReply = f.TCPWScaleOrig, f.TCPWScaleReply
	}
	if has&HasSCTPState != 0 {
		r.sctpState = f.SCTPState
	}
	if has&HasSCTPVTags != 0 {
		r.vtag = [2]uint32{f.SCTPVTagOrig, f.SCTPVTagReply}
	}
	if has&HasDCCPState != 0 {
		r.dccpState = f.DCCPState
	}
	if has&HasDCCPRole != 0 {
		r.dccpRole = f.DCCPRole
	}
	if has&natAttrs != 0 {
		n := c.nat.at(side(&c.nat, &r.nat))
		if has&HasSNAT != 0 {
			n.snat, n.snatFam = f.SNAT.As16(), family(f.SNAT)
		}
		if has&HasDNAT != 0 {
			n.dnat, n.dnatFam = f.DNAT.As16(), family(f.DNAT)
		}
		if has&HasSNATPort != 0 {
			n.snatPort = f.SNATPort
		}
		if has&HasDNATPort != 0 {
			n.dnatPort = f.DNATPort
		}
	}
	if has&relAttrs != 0 {
		x := c.rel.at(side(&c.rel, &r.rel))
		if has&HasMaster != 0 {
			x.master = packTuple(&f.Master)
		}
		if has&HasHelper != 0 {
			x.helper = f.Helper
		}
	}
	if has&adjAttrs != 0 {
		x := c.adj.at(side(&c.adj, &r.adj))
		if has&HasSeqAdj != 0 {
			x.seqAdj = f.SeqAdj
		}
		if has&HasSynproxy != 0 {
			x.synproxy = f.Synproxy
		}
		if has&HasLabels != 0 {
			x.labels = f.Labels
		}
	}
}

// side returns the pool handle *h, getting one first if it has none.
func side[T any](p *pool[T], h *uint32) uint32 {
	if *h == 0 {
		*h = p.get()
	}
	return *h
}

func (c *Flows) unpack(it *item[flowKey, flowRec], e *Entry) {
	r := &it.rec
	f := &e.Flow
	*f = Flow{
		Orig: it.key.t.tuple(), Zone: it.key.zone, Has: r.has,
		Status: r.status, Timeout: r.timeout, Mark: r.mark,
		TCPState: r.tcpState, TCPWScaleOrig: r.wsOrig, TCPWScaleReply: r.wsReply,
		SCTPState: r.sctpState, SCTPVTagOrig: r.vtag[0], SCTPVTagReply: r.vtag[1],
		DCCPState: r.dccpState, DCCPRole: r.dccpRole,
	}
	if r.nat != 0 {
		n := c.nat.at(r.nat)
		f.SNAT, f.DNAT = addrOf(&n.snat, n.snatFam), addrOf(&n.dnat, n.dnatFam)
		f.SNATPort, f.DNATPort = n.snatPort, n.dnatPort
	}
	if r.rel != 0 {
		x := c.rel.at(r.rel)
		if r.has&HasMaster != 0 {
			f.Master = x.master.tuple()
		}
		f.Helper = x.helper
	}
	if r.adj != 0 {
		x := c.adj.at(r.adj)
		f.SeqAdj, f.Synproxy, f.Labels = x.seqAdj, x.synproxy, x.labels
	}
	e.State = it.state
	e.Created, e.Updated = time.Unix(0, it.created), time.Unix(0, it.updated)
}

// Find returns the object with key k.
func (c *Flows) Find(k Key) (Ref, bool) {
	return c.find(packKey(&k))
}

// Get reads the object r names into e; false if r is stale.
func (c *Flows) Get(r Ref, e *Entry) bool {
	it := c.t.live(r)
	if it == nil {
		return false
	}
	c.unpack(it, e)
	return true
}

// Kill marks the object with key k dead, as a DESTROY event does, and
// returns it: the sync mode sends its DEL and then Removes it. It reports
// false, and changes nothing, for an unknown key (counted as a failed
// destroy) or an object already dead.
func (c *Flows) Kill(k Key) (Ref, bool) {
	pk := packKey(&k)
	return c.t.kill(&pk)
}

// Delete removes the object with key k, as a DEL message does to the
// external cache. It reports false for an unknown key, counted as a
// failed destroy.
func (c *Flows) Delete(k Key) bool {
	pk := packKey(&k)
	return c.t.delete(&pk)
}

// Flush removes every object, counting the live ones destroyed. Refs to
// them go stale.
func (c *Flows) Flush() {
	c.t.flush()
	c.nat.reset()
	c.rel.reset()
	c.adj.reset()
}

// All iterates over the objects in slot order, a stable order that does
// not depend on hashing. The Entry is reused from one object to the next.
// The body may Kill or Remove any object; objects added meanwhile may or
// may not be seen.
func (c *Flows) All() iter.Seq2[Ref, *Entry] {
	return func(yield func(Ref, *Entry) bool) {
		var e Entry
		for s, ok := c.t.next(0); ok; s, ok = c.t.next(s + 1) {
			c.unpack(c.t.at(s), &e)
			if !yield(c.t.ref(s), &e) {
				return
			}
		}
	}
}

// Batch calls fn for at most n objects from cur on, in the order of All,
// and returns where to go on; done once the end is reached. A commit or
// bulk send works in batches so that the engine can serve other work
// between them (conntrackd walks 8192 hash buckets a step). Objects
// removed between batches are skipped.
func (c *Flows) Batch(cur Cursor, n int, fn func(Ref, *Entry)) (next Cursor, done bool) {
	var e Entry
	s := cur.slot
	for ; n > 0; n-- {
		var ok bool
		if s, ok = c.t.next(s); !ok {
			return Cursor{s}, true
		}
		c.unpack(c.t.at(s), &e)
		fn(c.t.ref(s), &e)
		s++
	}
	_, more := c.t.next(s)
	return Cursor{s}, !more
}

// CommitTimeout is the timeout, in seconds, to give the flow when a
// commit writes it into the kernel (src/cache-ct.c): fixed when set (the
// CommitTimeout option), else the timeout the peer sent aged by the whole
// seconds since the last update. A result that is not positive becomes
// 60 s, as does any age when the clock went back. conntrackd keeps a
// result of exactly 0, which leaves the timeout out and makes the kernel
// refuse the create; here it becomes 60 s too.
func (e *Entry) CommitTimeout(now time.Time, fixed time.Duration) uint32 {
	if fixed > 0 {
		return uint32(min(fixed/time.Second, 1<<32-1))
	}
	age := now.Unix() - e.Updated.Unix()
	if age < 0 {
		age = 60
	}
	left := int64(e.Flow.Timeout) - age
	if left <= 0 {
		return 60
	}
	return uint32(left)
}
