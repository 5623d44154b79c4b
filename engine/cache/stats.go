package cache

import "fmt"

// Stats are one cache's counters, those of conntrackd's struct cache
// (src/cache.h) as `conntrackd -s` and `-s cache` print them.
type Stats struct {
	// Active is the number of objects that are not dead.
	Active uint64
	// Objects is the number of objects stored, dead ones included: what
	// counts against the limit.
	Objects uint64
	// Created counts objects created; CreateFailed the creations refused,
	// CreateNoSpace those refused because the cache was full (the only
	// reason here: conntrackd also counts failed allocations).
	Created, CreateFailed, CreateNoSpace uint64
	// Updated counts updates of existing objects. An update never fails
	// (it creates the object instead), as in conntrackd.
	Updated uint64
	// Destroyed counts objects marked dead or removed while not dead.
	// DestroyFailed and DestroyNotFound count Kill and Delete calls for a
	// key the cache does not hold. conntrackd prints these counters but
	// never increments them; they are counted here because a stream of
	// deletions for unknown flows is worth seeing.
	Destroyed, DestroyFailed, DestroyNotFound uint64
	// Flushes counts Flush calls.
	Flushes uint64
}

// AppendText appends the block `conntrackd -s` prints for a cache named
// name ("internal", "external"), in its layout (cache_stats of
// src/cache.c).
func (s Stats) AppendText(b []byte, name string) []byte {
	return fmt.Appendf(b, "cache %s:\n"+
		"current active connections:\t%12d\n"+
		"connections created:\t\t%12d\tfailed:\t%12d\n"+
		"connections updated:\t\t%12d\tfailed:\t%12d\n"+
		"connections destroyed:\t\t%12d\tfailed:\t%12d\n\n",
		name, s.Active,
		s.Created, s.CreateFailed,
		s.Updated, 0,
		s.Destroyed, s.DestroyFailed)
}

// AppendExtended appends the block `conntrackd -s cache` prints
// (cache_stats_extended of src/cache.c).
func (s Stats) AppendExtended(b []byte, name string) []byte {
	return fmt.Appendf(b, "cache:%s\tactive objects:\t\t%12d\n"+
		"\tactive/total entries:\t\t%12d/%12d\n"+
		"\tcreation OK/failed:\t\t%12d/%12d\n"+
		"\t\tno memory available:\t%12d\n"+
		"\t\tno space left in cache:\t%12d\n"+
		"\tupdate OK/failed:\t\t%12d/%12d\n"+
		"\t\tentry not found:\t%12d\n"+
		"\tdeletion created/failed:\t%12d/%12d\n"+
		"\t\tentry not found:\t%12d\n\n",
		name, s.Objects,
		s.Active, s.Objects,
		s.Created, s.CreateFailed,
		0,
		s.CreateNoSpace,
		s.Updated, 0,
		0,
		s.Destroyed, s.DestroyFailed,
		s.DestroyNotFound)
}
