package engine

import (
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
)

// CommitWalk walks an external cache for a commit in conntrackd's order
// (src/cache-ct.c): a first pass over the flows without a master, then a
// second over the related ones, so that the kernel has a flow's master
// when it creates the flow. Like cache.Flows.Batch it works in steps, so
// that the engine serves other work between them. The zero value starts
// a walk.
type CommitWalk struct {
	cur     cache.Cursor
	related bool // second pass
	done    bool
}

// Step visits at most n objects of c from where the walk stands and calls
// fn for those of the current pass; dead objects (never in an external
// cache, which deletes) are skipped. It reports true once both passes
// are done. Objects added during the walk may or may not be seen.
func (w *CommitWalk) Step(c *cache.Flows, n int, fn func(cache.Ref, *cache.Entry)) (done bool) {
	if w.done {
		return true
	}
	next, end := c.Batch(w.cur, n, func(r cache.Ref, e *cache.Entry) {
		if e.State == cache.Dead || (e.Flow.Has&cache.HasMaster != 0) != w.related {
			return
		}
		fn(r, e)
	})
	w.cur = next
	if end {
		if w.related {
			w.done = true
		} else {
			w.related, w.cur = true, cache.Cursor{}
		}
	}
	return w.done
}

// CommitFlow fills dst, the flow a commit writes, from cached entry e:
// KernelFromCache with the timeout conntrackd gives a committed flow,
// CommitTimeout when set, else the one the peer sent aged by the time
// since the entry's last update (cache.Entry.CommitTimeout).
func CommitFlow(dst *ctnl.Flow, e *cache.Entry, now time.Time, o ConvertOptions) error {
	fixed := time.Duration(o.CommitTimeout) * time.Second
	o.CommitTimeout = e.CommitTimeout(now, fixed)
	return KernelFromCache(dst, &e.Flow, o)
}
