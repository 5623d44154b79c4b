package cache

import (
	"iter"
	"time"
)

// ExpAttrs says which optional attributes an Expect carries: those of
// conntrackd's expectation sync messages (src/build.c). The fields of an
// attribute not in ExpAttrs are not stored and read back as zero.
type ExpAttrs uint16

const (
	ExpHasMaster  ExpAttrs = 1 << iota // Master
	ExpHasMask                         // Mask
	ExpHasTimeout                      // Timeout
	ExpHasFlags                        // Flags
	ExpHasClass                        // Class
	ExpHasNAT                          // NAT
	ExpHasNATDir                       // NATDir
	ExpHasHelper                       // Helper
	ExpHasFn                           // Fn

	expAllAttrs = ExpHasFn<<1 - 1
)

// Expect is an expectation as the cache keeps it.
type Expect struct {
	// Tuple (the expected flow) and Zone are the key: the kernel finds
	// and deletes an expectation by them.
	Tuple Tuple
	Zone  uint16
	Has   ExpAttrs
	// Master is the original tuple of the flow that created it; Mask says
	// which bits of Tuple must match; NAT is where a NATed expectation
	// goes, in the direction NATDir.
	Master, Mask, NAT Tuple
	Timeout           uint32 // seconds
	Flags, Class      uint32
	NATDir            uint32
	Helper, Fn        Name
}

// ExpKey is what identifies a cached expectation.
type ExpKey struct {
	Tuple Tuple
	Zone  uint16
}

// Key returns e's key.
func (e *Expect) Key() ExpKey { return ExpKey{Tuple: e.Tuple, Zone: e.Zone} }

// ExpEntry is a cached expectation read back, with its state and times.
type ExpEntry struct {
	Expect           Expect
	State            State
	Created, Updated time.Time
}

// expRec is stored inline: a node has few expectations (one per helper
// session being set up), so compactness matters less than for flows.
type expRec struct {
	master, mask, nat tkey
	timeout, flags    uint32
	class, natDir     uint32
	has               ExpAttrs
	helper, fn        Name
}

// Expects is an expectation cache (internal or external).
type Expects struct {
	objects[expRec]
}

// NewExpects returns an empty expectation cache.
func NewExpects(s Settings) (*Expects, error) {
	t, err := newTable[flowKey, expRec](s, nil)
	if err != nil {
		return nil, err
	}
	return &Expects{objects[expRec]{t: t}}, nil
}

func packExpKey(k *ExpKey) flowKey { return flowKey{t: packTuple(&k.Tuple), zone: k.Zone} }

func packExp(r *expRec, e *Expect) {
	has := e.Has & expAllAttrs
	*r = expRec{has: has}
	if has&ExpHasMaster != 0 {
		r.master = packTuple(&e.Master)
	}
	if has&ExpHasMask != 0 {
		r.mask = packTuple(&e.Mask)
	}
	if has&ExpHasNAT != 0 {
		r.nat = packTuple(&e.NAT)
	}
	if has&ExpHasTimeout != 0 {
		r.timeout = e.Timeout
	}
	if has&ExpHasFlags != 0 {
		r.flags = e.Flags
	}
	if has&ExpHasClass != 0 {
		r.class = e.Class
	}
	if has&ExpHasNATDir != 0 {
		r.natDir = e.NATDir
	}
	if has&ExpHasHelper != 0 {
		r.helper = e.Helper
	}
	if has&ExpHasFn != 0 {
		r.fn = e.Fn
	}
}

func unpackExp(it *item[flowKey, expRec], e *ExpEntry) {
	r := &it.rec
	e.Expect = Expect{
		Tuple: it.key.t.tuple(), Zone: it.key.zone, Has: r.has,
		Master: r.master.tuple(), Mask: r.mask.tuple(), NAT: r.nat.tuple(),
		Timeout: r.timeout, Flags: r.flags, Class: r.class, NATDir: r.natDir,
		Helper: r.helper, Fn: r.fn,
	}
	e.State = it.state
	e.Created, e.Updated = time.Unix(0, it.created), time.Unix(0, it.updated)
}

func (c *Expects) store(slot uint32, o Outcome, e *Expect) (Ref, Outcome) {
	if o == Refused {
		return Ref{}, o
	}
	packExp(&c.t.at(slot).rec, e)
	return c.t.ref(slot), o
}

// Update stores e as an update; see Flows.Update.
func (c *Expects) Update(e *Expect, now time.Time) (Ref, Outcome) {
	k := packExpKey(&ExpKey{Tuple: e.Tuple, Zone: e.Zone})
	slot, o := c.t.update(&k, now.UnixNano())
	return c.store(slot, o, e)
}

// Replace stores e as a new expectation; see Flows.Replace.
func (c *Expects) Replace(e *Expect, now time.Time) (Ref, Outcome) {
	k := packExpKey(&ExpKey{Tuple: e.Tuple, Zone: e.Zone})
	slot, o := c.t.replace(&k, now.UnixNano())
	return c.store(slot, o, e)
}

// Find returns the object with key k.
func (c *Expects) Find(k ExpKey) (Ref, bool) {
	return c.find(packExpKey(&k))
}

// Get reads the object r names into e; false if r is stale.
func (c *Expects) Get(r Ref, e *ExpEntry) bool {
	it := c.t.live(r)
	if it == nil {
		return false
	}
	unpackExp(it, e)
	return true
}

// Kill marks the object with key k dead; see Flows.Kill.
func (c *Expects) Kill(k ExpKey) (Ref, bool) {
	pk := packExpKey(&k)
	return c.t.kill(&pk)
}

// Delete removes the object with key k; see Flows.Delete.
func (c *Expects) Delete(k ExpKey) bool {
	pk := packExpKey(&k)
	return c.t.delete(&pk)
}

// Flush removes every object; see Flows.Flush.
func (c *Expects) Flush() { c.t.flush() }

// All iterates over the objects in slot order; see Flows.All.
func (c *Expects) All() iter.Seq2[Ref, *ExpEntry] {
	return func(yield func(Ref, *ExpEntry) bool) {
		var e ExpEntry
		for s, ok := c.t.next(0); ok; s, ok = c.t.next(s + 1) {
			unpackExp(c.t.at(s), &e)
			if !yield(c.t.ref(s), &e) {
				return
			}
		}
	}
}
