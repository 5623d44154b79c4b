package cache

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"time"
)

// State is the life stage of a cached object, conntrackd's C_OBJ_* of
// src/cache.h.
type State uint8

const (
	stateFree State = iota // the slot holds no object
	// New: created and never updated since; a message about it is a NEW.
	New
	// Alive: updated at least once; a message about it is an UPD.
	Alive
	// Dead: destroyed in the kernel, kept until its DEL is no longer
	// needed; a message about it is a DEL. Dead objects are not active
	// but still count against the limit.
	Dead
)

func (s State) String() string {
	switch s {
	case New:
		return "new"
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "free"
}

// Outcome says what Update or Replace did.
type Outcome uint8

const (
	// Refused: the cache was full; nothing is stored and the failure is
	// counted.
	Refused Outcome = iota
	// Created: a new object was stored (state New).
	Created
	// Updated: an existing object took the new contents (state Alive).
	Updated
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	}
	return "refused"
}

// Ref names one object. It goes stale when the object is removed, even if
// its slot is reused, so a transmit or resend queue can hold a Ref where
// conntrackd holds a reference-counted pointer.
type Ref struct {
	slot uint32
	gen  uint32 // gen+1 of the slot when the Ref was made; 0: no object
}

// IsZero reports whether r names no object at all.
func (r Ref) IsZero() bool { return r.gen == 0 }

// Cursor is a position in an iteration done in batches (see Flows.Batch).
// The zero Cursor is the start.
type Cursor struct{ slot uint32 }

// Settings size one cache.
type Settings struct {
	// Buckets is a hint of how many objects to expect: conntrackd's
	// HashSize. The index starts large enough for it (up to a million
	// objects) and grows as needed.
	Buckets int
	// Limit is the maximum number of objects, dead ones included:
	// conntrackd's HashLimit. It must be from 1 to 2^31-1.
	Limit int
	// Lifetime, when positive, is how long an object lives without an
	// update before Expire removes it: ALARM's CacheTimeout on the
	// external cache. Zero: objects never expire.
	Lifetime time.Duration
}

// Check reports whether the settings are usable.
func (s Settings) Check() error { return s.check() }

func (s Settings) check() error {
	if s.Limit < 1 {
		return fmt.Errorf("cache limit %d: must be at least 1", s.Limit)
	}
	if s.Limit > maxLimit {
		return fmt.Errorf("cache limit %d: must be at most %d", s.Limit, maxLimit)
	}
	if s.Buckets < 0 {
		return fmt.Errorf("cache size %d: must not be negative", s.Buckets)
	}
	if s.Lifetime < 0 {
		return errors.New("cache lifetime must not be negative")
	}
	return nil
}

// keyer is what the table needs of a key: equality (comparable, without
// pointers), a seeded hash and an order for dumps.
type keyer[K any] interface {
	comparable
	hash(seed uint64) uint64
	compare(o *K) int
}

const (
	nilSlot   = ^uint32(0)
	chunkBits = 10 // slab chunks of 1024 objects: growing never copies
	chunkLen  = 1 << chunkBits
	minIndex  = 8
	// maxLimit keeps slot numbers within 31 bits and the index within
	// 2^32 buckets, whose home is a whole 32-bit tag at most.
	maxLimit = 1<<31 - 1
	// maxInitialIndex bounds what New allocates up front (8 MiB) whatever
	// the size hint; a larger index is grown to as objects arrive.
	maxInitialIndex = 1 << 20
)

// item is one slab slot.
type item[K keyer[K], R any] struct {
	key              K
	rec              R
	created, updated int64  // UnixNano
	prev, next       uint32 // update order when the table has a lifetime; next also chains free slots
	gen              uint32 // bumped each time the slot is freed
	state            State
}

// table is the storage shared by the conntrack and expectation caches:
// a slab of items in chunks, an open-addressing index with linear probing
// of (32-bit hash tag, slot+1) buckets, an update-order list for expiry,
// and conntrackd's counters. R holds the record; release frees what R
// refers to outside the slab.
type table[K keyer[K], R any] struct {
	seed     uint64
	index    []uint64
	shift    uint // tag >> shift is a tag's home bucket
	chunks   [][]item[K, R]
	top      uint32 // slots ever handed out
	freeHead uint32
	count    int
	limit    int
	lifetime int64
	head     uint32 // least recently updated, when lifetime > 0
	tail     uint32
	release  func(*R)
	stats    Stats
}

func newTable[K keyer[K], R any](s Settings, release func(*R)) (*table[K, R], error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	t := &table[K, R]{
		seed:     rand.Uint64(),
		freeHead: nilSlot,
		head:     nilSlot,
		tail:     nilSlot,
		limit:    s.Limit,
		lifetime: int64(s.Lifetime),
		release:  release,
	}
	t.resize(min(indexFor(min(s.Buckets, s.Limit)), maxInitialIndex))
	return t, nil
}

// indexFor is the index size that holds n objects at a load of at most
// three quarters.
func indexFor(n int) int {
	want := n + n/3 + 1
	size := minIndex
	for size < want {
		size <<= 1
	}
	return size
}

func (t *table[K, R]) at(slot uint32) *item[K, R] {
	return &t.chunks[slot>>chunkBits][slot&(chunkLen-1)]
}

func (t *table[K, R]) home(tag uint32) uint64 { return uint64(tag >> t.shift) }

// find returns the slot holding k or, when there is none, the empty
// bucket where k belongs.
func (t *table[K, R]) find(k *K) (slot uint32, pos uint64, tag uint32, ok bool) {
	tag = uint32((*k).hash(t.seed) >> 32)
	mask := uint64(len(t.index) - 1)
	for pos = t.home(tag); ; pos = (pos + 1) & mask {
		b := t.index[pos]
		if b == 0 {
			return nilSlot, pos, tag, false
		}
		if uint32(b>>32) == tag {
			s := uint32(b) - 1
			if t.at(s).key == *k {
				return s, pos, tag, true
			}
		}
	}
}

func (t *table[K, R]) resize(size int) {
	old := t.index
	t.index = make([]uint64, size)
	t.shift = uint(32 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	for _, b := range old {
		if b == 0 {
			continue
		}
		pos := t.home(uint32(b >> 32))
		for t.index[pos] != 0 {
			pos = (pos + 1) & mask
		}
		t.index[pos] = b
	}
}

// add stores a new object for k, whose absence find has just shown.
func (t *table[K, R]) add(k *K, pos uint64, tag uint32, now int64) (uint32, Outcome) {
	if t.count >= t.limit {
		t.stats.CreateFailed++
		t.stats.CreateNoSpace++
		return nilSlot, Refused
	}
	if (t.count+1)*4 > len(t.index)*3 {
		t.resize(len(t.index) * 2)
		mask := uint64(len(t.index) - 1)
		for pos = t.home(tag); t.index[pos] != 0; pos = (pos + 1) & mask {
		}
	}
	slot := t.alloc()
	it := t.at(slot)
	it.key = *k
	it.created, it.updated = now, now
	it.state = New
	t.index[pos] = uint64(tag)<<32 | uint64(slot+1)
	t.count++
	t.stats.Active++
	t.stats.Created++
	if t.lifetime > 0 {
		t.append(slot)
	}
	return slot, Created
}

func (t *table[K, R]) alloc() uint32 {
	if s := t.freeHead; s != nilSlot {
		t.freeHead = t.at(s).next
		return s
	}
	s := t.top
	if int(s>>chunkBits) == len(t.chunks) {
		t.chunks = append(t.chunks, make([]item[K, R], chunkLen))
	}
	t.top++
	return s
}

// drop removes the object in slot, counting it destroyed unless it was
// already dead (conntrackd's cache_del).
func (t *table[K, R]) drop(slot uint32) {
	it := t.at(slot)
	if it.state != Dead {
		t.stats.Destroyed++
		t.stats.Active--
	}
	tag := uint32(it.key.hash(t.seed) >> 32)
	mask := uint64(len(t.index) - 1)
	pos := t.home(tag)
	for uint32(t.index[pos]) != slot+1 {
		pos = (pos + 1) & mask
	}
	t.unindex(pos)
	if t.lifetime > 0 {
		t.unlink(slot)
	}
	t.free(slot, it)
	t.count--
}

func (t *table[K, R]) free(slot uint32, it *item[K, R]) {
	if t.release != nil {
		t.release(&it.rec)
	}
	var zr R
	var zk K
	it.rec, it.key = zr, zk
	it.state = stateFree
	// A busy small cache reuses one slot billions of times: skip the
	// generation whose Ref would read as zero (no object).
	if it.gen++; it.gen+1 == 0 {
		it.gen = 0
	}
	it.next = t.freeHead
	t.freeHead = slot
}

// unindex empties bucket pos and shifts back the buckets after it that
// would otherwise be cut off from their home (deletion without
// tombstones, so lookups never slow down with churn).
func (t *table[K, R]) unindex(pos uint64) {
	mask := uint64(len(t.index) - 1)
	for {
		t.index[pos] = 0
		next := pos
		for {
			next = (next + 1) & mask
			b := t.index[next]
			if b == 0 {
				return
			}
			h := t.home(uint32(b >> 32))
			// The bucket at next may stay if its home lies cyclically
			// in (pos, next].
			if pos < next {
				if pos < h && h <= next {
					continue
				}
			} else if pos < h || h <= next {
				continue
			}
			t.index[pos] = b
			pos = next
			break
		}
	}
}

func (t *table[K, R]) append(slot uint32) {
	it := t.at(slot)
	it.prev, it.next = t.tail, nilSlot
	if t.tail != nilSlot {
		t.at(t.tail).next = slot
	} else {
		t.head = slot
	}
	t.tail = slot
}

func (t *table[K, R]) unlink(slot uint32) {
	it := t.at(slot)
	if it.prev != nilSlot {
		t.at(it.prev).next = it.next
	} else {
		t.head = it.next
	}
	if it.next != nilSlot {
		t.at(it.next).prev = it.prev
	} else {
		t.tail = it.prev
	}
}

func (t *table[K, R]) ref(slot uint32) Ref {
	return Ref{slot: slot, gen: t.at(slot).gen + 1}
}

// live returns the item r names, or nil when r is stale.
func (t *table[K, R]) live(r Ref) *item[K, R] {
	if r.gen == 0 || r.slot >= t.top {
		return nil
	}
	it := t.at(r.slot)
	if it.state == stateFree || it.gen+1 != r.gen {
		return nil
	}
	return it
}

// update is conntrackd's cache_update_force: an object that exists and
// is not dead takes the new contents and becomes Alive; a dead one is
// discarded and a fresh New object created, as is one for an unknown key.
func (t *table[K, R]) update(k *K, now int64) (uint32, Outcome) {
	slot, pos, tag, ok := t.find(k)
	if ok {
		it := t.at(slot)
		if it.state != Dead {
			it.state = Alive
			it.updated = now
			t.stats.Updated++
			if t.lifetime > 0 && t.tail != slot {
				t.unlink(slot)
				t.append(slot)
			}
			return slot, Updated
		}
		t.drop(slot)
		_, pos, tag, _ = t.find(k)
	}
	return t.add(k, pos, tag, now)
}

// replace is a NEW event or message: any object with the key is
// discarded (and counted destroyed if it was not dead) and a fresh one
// created.
func (t *table[K, R]) replace(k *K, now int64) (uint32, Outcome) {
	slot, pos, tag, ok := t.find(k)
	if ok {
		t.drop(slot)
		_, pos, tag, _ = t.find(k)
	}
	return t.add(k, pos, tag, now)
}

// kill marks the object dead (conntrackd's cache_object_set_status with
// C_OBJ_DEAD); it reports false for an unknown key, counted as a failed
// destroy, and for an object already dead.
func (t *table[K, R]) kill(k *K) (Ref, bool) {
	slot, _, _, ok := t.find(k)
	if !ok {
		t.stats.DestroyFailed++
		t.stats.DestroyNotFound++
		return Ref{}, false
	}
	return t.ref(slot), t.killSlot(slot)
}

func (t *table[K, R]) killSlot(slot uint32) bool {
	it := t.at(slot)
	if it.state == Dead {
		return false
	}
	it.state = Dead
	t.stats.Destroyed++
	t.stats.Active--
	return true
}

func (t *table[K, R]) delete(k *K) bool {
	slot, _, _, ok := t.find(k)
	if !ok {
		t.stats.DestroyFailed++
		t.stats.DestroyNotFound++
		return false
	}
	t.drop(slot)
	return true
}

func (t *table[K, R]) remove(r Ref) bool {
	if t.live(r) == nil {
		return false
	}
	t.drop(r.slot)
	return true
}

// flush removes every object, counting the live ones destroyed as
// conntrackd's cache_flush does. Slabs are kept for the objects that a
// resync brings back; Refs to the flushed objects go stale.
func (t *table[K, R]) flush() {
	for s := range t.top {
		it := t.at(s)
		if it.state == stateFree {
			continue
		}
		if it.state != Dead {
			t.stats.Destroyed++
			t.stats.Active--
		}
		t.free(s, it)
	}
	clear(t.index)
	// Hand slots out again from the start, in order, so that a refill
	// after a flush iterates in insertion order as a fresh cache does.
	t.freeHead, t.top = nilSlot, 0
	t.head, t.tail = nilSlot, nilSlot
	t.count = 0
	t.stats.Flushes++
}

// expire removes the objects not updated for the lifetime, oldest first.
func (t *table[K, R]) expire(now int64) int {
	if t.lifetime <= 0 {
		return 0
	}
	n := 0
	for t.head != nilSlot && t.at(t.head).updated+t.lifetime <= now {
		t.drop(t.head)
		n++
	}
	return n
}

// nextExpiry is when the oldest object expires.
func (t *table[K, R]) nextExpiry() (int64, bool) {
	if t.lifetime <= 0 || t.head == nilSlot {
		return 0, false
	}
	return t.at(t.head).updated + t.lifetime, true
}

// next returns the first used slot at or after c, or false at the end.
func (t *table[K, R]) next(c uint32) (uint32, bool) {
	for ; c < t.top; c++ {
		if t.at(c).state != stateFree {
			return c, true
		}
	}
	return c, false
}

func (t *table[K, R]) snapshot() Stats {
	s := t.stats
	s.Objects = uint64(t.count)
	return s
}

func sortedRefs[K keyer[K], R any](t *table[K, R]) []Ref {
	slots := make([]uint32, 0, t.count)
	for s, ok := t.next(0); ok; s, ok = t.next(s + 1) {
		slots = append(slots, s)
	}
	slices.SortFunc(slots, func(a, b uint32) int {
		return t.at(a).key.compare(&t.at(b).key)
	})
	refs := make([]Ref, len(slots))
	for i, s := range slots {
		refs[i] = t.ref(s)
	}
	return refs
}
