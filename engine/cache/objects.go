package cache

import "time"

// objects is what Flows and Expects share: the methods that need only
// the table, whatever the record's form. Both are keyed by a tuple and a
// zone.
type objects[R any] struct {
	t *table[flowKey, R]
}

func (c *objects[R]) find(k flowKey) (Ref, bool) {
	slot, _, _, ok := c.t.find(&k)
	if !ok {
		return Ref{}, false
	}
	return c.t.ref(slot), true
}

// State returns the state of the object r names, without reading it: a
// transmit queue picks the message type (NEW, UPD, DEL) from it when it
// sends, as conntrackd does. A stale Ref has no state (zero State, which
// is none of New, Alive and Dead).
func (c *objects[R]) State(r Ref) State {
	if it := c.t.live(r); it != nil {
		return it.state
	}
	return 0
}

// KillRef is Kill for an object known by its Ref, as a purge that found
// it gone from the kernel does; false if r is stale or already dead.
func (c *objects[R]) KillRef(r Ref) bool {
	if c.t.live(r) == nil {
		return false
	}
	return c.t.killSlot(r.slot)
}

// Remove removes the object r names: a dead object once its DEL is no
// longer needed. It reports false if r is stale.
func (c *objects[R]) Remove(r Ref) bool { return c.t.remove(r) }

// Expire removes the objects that were not updated for the cache's
// Lifetime by now and returns how many. Times given to the cache must
// not go backwards for expiry to be exact; if they do, objects expire
// late, never early.
func (c *objects[R]) Expire(now time.Time) int { return c.t.expire(now.UnixNano()) }

// NextExpiry is when the next object expires, for the engine's timer.
func (c *objects[R]) NextExpiry() (time.Time, bool) {
	n, ok := c.t.nextExpiry()
	return time.Unix(0, n), ok
}

// Len is the number of objects stored, dead ones included.
func (c *objects[R]) Len() int { return c.t.count }

// Stats returns the cache's counters.
func (c *objects[R]) Stats() Stats { return c.t.snapshot() }

// Sorted returns every object's Ref ordered by key (addresses, protocol,
// ports, zone), for dumps that read the same whatever the history.
func (c *objects[R]) Sorted() []Ref { return sortedRefs(c.t) }

// SetLimit changes the maximum number of objects (a reload of the
// configuration). A limit below the number held keeps every object and
// refuses new ones until enough are gone.
func (c *objects[R]) SetLimit(limit int) error {
	if err := (Settings{Limit: limit}).check(); err != nil {
		return err
	}
	c.t.limit = limit
	return nil
}

// Limit returns the maximum number of objects.
func (c *objects[R]) Limit() int { return c.t.limit }
