// Package cache holds the cache tiers of the sync engine: the internal
// cache (this node's flows, a mirror of its kernel table fed by events and
// dumps) and the external cache (flows learned from peers, written to the
// kernel by a commit), each for conntracks ([Flows]) and expectations
// ([Expects]). They follow conntrackd's src/cache.c, src/internal_cache.c
// and src/external_cache.c:
//
//   - an object is NEW when created, ALIVE once updated, DEAD once its flow
//     was destroyed in the kernel; a DEAD object stays until the sync mode
//     no longer needs it (FTFW: until its DEL is acknowledged) and then
//     calls Remove;
//   - a cache holds at most Limit objects, dead ones included; an insert
//     beyond that is refused and counted ("no space left in cache");
//   - Update is conntrackd's cache_update_force (update, changing only
//     the attributes given, or create; a DEAD object is replaced), Replace is what a NEW event or message does
//     (discard any object with that key, create a fresh one), Kill is a
//     DESTROY event, Delete a DEL message, Flush empties the cache and
//     Expire ages out objects not refreshed for Lifetime (ALARM's
//     CacheTimeout on the external cache);
//   - the counters are those `conntrackd -s` and `-s cache` print.
//
// A disabled tier is simply not built: the engine then writes received
// states straight into the kernel or sends events straight to the link,
// as conntrackd's src/external_inject.c and src/internal_bypass.c do.
//
// The key is the original tuple and the zone. conntrackd 1.4.7 mixes the
// zone into the hash only, so two flows that differ only by zone may share
// one object; here they never do.
//
// The cache keeps its own compact form of what syncs (the attributes of
// conntrackd's sync messages) and imports neither the kernel nor the wire
// types: the engine converts. Objects live in fixed-size slabs indexed by
// an open-addressing table of 8 bytes per bucket; attributes most flows
// lack (NAT, master tuple, helper, labels, sequence adjustments) live in
// side slabs. A plain flow costs about 140 bytes at a million objects,
// 180 with NAT (BenchmarkMemoryPerFlow; conntrackd needs 460 to 520).
// Updating an existing object allocates nothing. Slabs are reused, never
// returned: a cache that once held Limit objects keeps their memory.
//
// Time is an input of every operation that needs it, and nothing is
// global: two engines can run in one process. A cache is not safe for
// concurrent use; the engine owns it from one goroutine, as conntrackd's
// single event loop does.
package cache
