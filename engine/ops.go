package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/link/wire"
)

// commitBatch is how many flows a commit converts under the engine's
// lock before it writes them, so that events and the peer are served
// between batches (conntrackd walks 8192 buckets a step).
const commitBatch = 2048

// ErrBusy is returned by an operation refused while a commit or a purge
// runs.
var ErrBusy = errors.New("a commit or purge is in progress")

// Commit writes the external cache into the kernel (conntrackd -c):
// flows without a master first, then related ones, in pipelined batches,
// each created or, when present, updated. The cache is kept: a flush
// follows in keepalived's script. progress, when not nil, is told how
// far it got.
func (e *Engine) Commit(ctx context.Context, progress func(control.Progress)) error {
	return e.commit(ctx, "", progress)
}

// commit writes one table of the external cache, or both for "".
func (e *Engine) commit(ctx context.Context, table control.Table, progress func(control.Progress)) error {
	if e.external == nil {
		// Nothing to do, and nothing wrong: what the peer sent is in
		// the kernel already. conntrackd's -c is as silent; an error
		// here would fail keepalived's step on every fail-over.
		e.log.Info("commit: nothing to commit: without an external cache, received flows are written to the kernel as they arrive")
		return nil
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.busy.Store(true)
	defer e.busy.Store(false)
	progress, end := e.commitProgress.track(progress)
	defer end()
	start := time.Now()
	e.mu.Lock()
	e.purgeAt = time.Time{} // a commit cancels a scheduled purge
	e.purgeGen++
	total := int64(e.external.Len())
	e.mu.Unlock()
	e.log.Info("committing the external cache", "flows", total)
	e.counters.commits.Add(1)

	c := committer{e: e, w: e.io.Commit}
	var walk CommitWalk
	var done int64
	for finished := table == control.Expectations; !finished; {
		e.mu.Lock()
		now := e.io.Clock.Now()
		c.reset()
		finished = walk.Step(e.external, commitBatch, func(_ cache.Ref, ent *cache.Entry) {
			c.add(ent, now)
		})
		e.mu.Unlock()
		c.write()
		done += int64(c.n)
		if progress != nil {
			progress(control.Progress{Stage: "commit", Done: done, Total: total})
		}
	}
	if e.eexp != nil && table != control.Conntracks {
		e.commitExpectations(&c)
		e.noteLegacyCommit(c.n)
		if progress != nil {
			progress(control.Progress{Stage: "commit expectations", Done: int64(c.n), Total: int64(c.n)})
		}
	}
	took := time.Since(start)
	e.counters.committed.Add(uint64(c.ok))
	e.counters.commitFailed.Add(uint64(c.failed))
	e.log.Info("commit done", "committed", c.ok, "failed", c.failed, "table_full", c.full, "chain_full", c.chain, "seconds", took.Seconds())
	if c.failed > 0 {
		return fmt.Errorf("commit: %d of %d flows could not be written into the kernel%s (first: %v)", c.failed, c.failed+c.ok, c.why(), c.first)
	}
	return nil
}

// why explains the refusals an operator can act on. The kernel refuses
// a new flow with ENOMEM when the namespace's table holds
// nf_conntrack_max flows (nf_conntrack_core.c, __nf_conntrack_alloc:
// "table full"), and with ENOSPC when the flow's hash chain, in the hash
// table all namespaces share, is too long (nf_conntrack_hash_check_insert:
// "chaintoolong"), which more buckets cure. The flows stay in the
// external cache, so a commit after raising the limit writes them.
func (c *committer) why() string {
	var b strings.Builder
	if c.full > 0 {
		fmt.Fprintf(&b, ": %d refused because the kernel's conntrack table is full (net.netfilter.nf_conntrack_max reached)", c.full)
	}
	if c.chain > 0 {
		fmt.Fprintf(&b, ": %d refused because their bucket of the kernel's conntrack hash table is full (raise net.netfilter.nf_conntrack_buckets)", c.chain)
	}
	if b.Len() > 0 {
		b.WriteString("; they stay in the external cache: raise the limit and commit again")
	}
	return b.String()
}

// commitExpectations writes the external expectation cache after the
// flows, since an expectation needs its master in the table
// (src/cache-exp.c). A node has few expectations: one batch.
func (e *Engine) commitExpectations(c *committer) {
	e.mu.Lock()
	now := e.io.Clock.Now()
	var xs []ctnl.Expect
	for _, ent := range e.eexp.All() {
		if ent.State == cache.Dead {
			continue
		}
		var x ctnl.Expect
		if err := CommitExpect(&x, ent, now, e.conv); err != nil {
			c.fail(fmt.Errorf("expectation %v: %w", ent.Expect.Tuple, err))
			continue
		}
		xs = append(xs, x)
	}
	e.mu.Unlock()
	c.n = len(xs)
	if len(xs) == 0 {
		return
	}
	reqs := make([]ctnl.Request, len(xs))
	errs := make([]error, len(xs))
	for i := range xs {
		reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Expect: &xs[i]}
	}
	if err := c.w.Apply(reqs, errs); err != nil {
		e.log.Error("commit: the kernel socket failed", "err", err)
	}
	for i, err := range errs {
		// An expectation already there is the one we mean: the kernel
		// cannot update one.
		if err != nil && !errors.Is(err, syscall.EEXIST) {
			c.fail(fmt.Errorf("expectation %v: %w", xs[i].Tuple, err))
			continue
		}
		c.ok++
	}
}

// committer converts and writes one batch of a commit.
type committer struct {
	e      *Engine
	w      KernelWriter
	flows  []ctnl.Flow
	reqs   []ctnl.Request
	errs   []error
	n      int
	ok     int
	failed int
	// full and chain count the flows refused for want of room in the
	// table and in their hash chain.
	full, chain int
	first       error
}

func (c *committer) reset() { c.n, c.reqs = 0, c.reqs[:0] }

func (c *committer) add(ent *cache.Entry, now time.Time) {
	if c.n == len(c.flows) {
		c.flows = append(c.flows, ctnl.Flow{})
	}
	f := &c.flows[c.n]
	c.n++
	*f = ctnl.Flow{}
	if err := CommitFlow(f, ent, now, c.e.conv); err != nil {
		c.fail(fmt.Errorf("%v: %w", ent.Flow.Orig, err))
		return
	}
	c.reqs = append(c.reqs, ctnl.Request{Op: ctnl.OpCreateOrUpdate, Flow: f})
}

func (c *committer) fail(err error) {
	c.failed++
	if c.first == nil {
		c.first = err
	}
}

// write applies the batch, then retries one by one what the kernel
// refused for a reason a second form cures.
func (c *committer) write() {
	if len(c.reqs) == 0 {
		return
	}
	c.errs = append(c.errs[:0], make([]error, len(c.reqs))...)
	if err := c.w.Apply(c.reqs, c.errs); err != nil {
		c.e.log.Error("commit: the kernel socket failed", "err", err)
	}
	var one [1]ctnl.Request
	var oneErr [1]error
	for i, err := range c.errs {
		for try := 0; err != nil && try < 3; try++ {
			r := c.reqs[i]
			switch {
			case isNATRefusal(err):
				// An existing flow's NAT or master cannot change:
				// update the rest (conntrackd deletes it and
				// creates it again, which cuts the flow's state).
				r.Op = ctnl.OpUpdate
			case errors.Is(err, syscall.EBUSY):
				// The EXPECTED bit differs from the kernel's
				// flow: replace it, as conntrackd does.
				one[0] = ctnl.Request{Op: ctnl.OpDelete, Flow: r.Flow}
				c.w.Apply(one[:], oneErr[:])
				r.Op = ctnl.OpCreate
			case errors.Is(err, syscall.EAGAIN):
				// The kernel loaded a NAT or helper module; the
				// request is to be sent again.
			default:
				try = 3
				continue
			}
			one[0] = r
			if e := c.w.Apply(one[:], oneErr[:]); e != nil {
				err = e
			} else {
				err = oneErr[0]
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, syscall.ENOMEM):
				c.full++
			case errors.Is(err, syscall.ENOSPC):
				c.chain++
			}
			c.fail(fmt.Errorf("%v: %w", c.reqs[i].Flow.Orig, err))
			continue
		}
		c.ok++
	}
}

func isNATRefusal(err error) bool { return errors.Is(err, syscall.EOPNOTSUPP) }
func isNotFound(err error) bool   { return errors.Is(err, syscall.ENOENT) }

// Flush empties the internal, the external or, for "", both caches
// (conntrackd -f). It is refused while a commit runs, and cancels a
// scheduled purge.
func (e *Engine) Flush(ctx context.Context, which control.Cache) error {
	if e.busy.Load() {
		return fmt.Errorf("flush: %w", ErrBusy)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.noteLegacyFlush(which)
	if which == control.Internal && e.internal == nil {
		// conntrackd then flushes the kernel's table (reference
		// defect; docs/compat.md): a flush of caches does not.
		return errors.New("flush: there is no internal cache (caches.internal is disabled); the kernel's table is left alone")
	}
	// After the refusal above: a refused flush changes nothing.
	e.purgeAt = time.Time{}
	e.purgeGen++
	if which != control.External && e.internal != nil {
		e.internal.Flush()
		if e.iexp != nil {
			e.iexp.Flush()
		}
	}
	if which != control.Internal && e.external != nil {
		e.external.Flush()
		if e.eexp != nil {
			e.eexp.Flush()
		}
	}
	e.log.Info("caches flushed", "cache", cacheName(which))
	return nil
}

func cacheName(c control.Cache) string {
	if c == "" {
		return "both"
	}
	return string(c)
}

// Resync asks the peer for its table (conntrackd -n) or, with kernel,
// reloads the internal cache from the kernel's table (-R).
func (e *Engine) Resync(ctx context.Context, kernel bool, progress func(control.Progress)) error {
	if kernel {
		if e.internal == nil {
			return errors.New("resync --kernel: there is no internal cache to reload (caches.internal is disabled)")
		}
		progress, end := e.resyncProgress.track(progress)
		defer end()
		return e.ingest.Dump(ctx, progress)
	}
	e.counters.resyncRequests.Add(1)
	e.mu.Lock()
	e.mode.RequestResync()
	e.readyW.asked = e.io.Clock.Now()
	e.mu.Unlock()
	e.log.Info("resync requested")
	e.wake()
	return nil
}

// Bulk queues the internal cache for the peer (conntrackd -B).
func (e *Engine) Bulk(ctx context.Context) error {
	e.mu.Lock()
	e.mode.BulkSend()
	e.mu.Unlock()
	e.log.Info("sending bulk update")
	e.wake()
	return nil
}

// Purge schedules, unless one is scheduled already, the removal of every
// flow the filter accepts from the kernel's table after purge_timeout,
// with an internal-cache flush (conntrackd -t: the flows this node held
// as primary, left in the table of a node that became backup). A commit
// or a flush cancels it.
func (e *Engine) Purge(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.purgeAt.IsZero() {
		return nil
	}
	d := e.rt.Sync.PurgeTimeout
	e.purgeAt = e.io.Clock.Now().Add(d)
	e.log.Info("flushing the kernel's table later", "seconds", d.Seconds())
	e.wake()
	return nil
}

// bulkDirect sends the kernel's table to the peer without an internal
// cache (NOTRACK): every flow the filter accepts, as NEW, as conntrackd's
// bypass answers -B and a RESYNC. The mode calls it with e.mu held; the
// dump runs apart and takes the lock per flow. Requests made while a
// dump runs are answered by one more dump after it: each RESYNC a peer
// sends would otherwise start its own goroutine and its own dump of the
// whole table.
func (e *Engine) bulkDirect() {
	if e.stopping {
		return
	}
	if e.bulkRunning {
		e.bulkAgain = true
		return
	}
	e.bulkRunning = true
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		for {
			e.bulkDirectOnce()
			e.mu.Lock()
			again := e.bulkAgain && !e.stopping
			e.bulkAgain, e.bulkRunning = false, again
			e.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

var errStopping = errors.New("the engine is stopping")

// bulkDirectOnce is one bulk send of the kernel's table; it stops early
// when Run ends.
func (e *Engine) bulkDirectOnce() {
	chain := e.ingest.Chain()
	var view filter.Flow
	var f cache.Flow
	n := 0
	err := e.table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		if !ev.Flow.Orig.IsValid() {
			return nil
		}
		FilterFlow(&view, &ev.Flow)
		if !chain.Pass(&view) {
			return nil
		}
		CacheFromKernel(&f, &ev.Flow)
		e.mu.Lock()
		stopping := e.stopping
		if !stopping {
			e.mode.Direct(wire.TypeCTNew, &f)
		}
		e.mu.Unlock()
		if stopping {
			return errStopping
		}
		if n++; n%256 == 0 {
			e.wake()
		}
		return nil
	}, func(error) {})
	e.wake()
	switch {
	case errors.Is(err, errStopping):
		e.log.Info("bulk send of the kernel's table stopped: the engine is stopping", "sent", n)
	case err != nil:
		e.log.Error("bulk send of the kernel's table failed", "sent", n, "err", err)
	default:
		e.log.Info("bulk send of the kernel's table done", "flows", n)
	}
}

// runPurge is the scheduled purge, started by the transmitter once due
// (it took the schedule). It waits for a commit in progress.
func (e *Engine) runPurge(gen uint64) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.Lock()
	cancelled := e.purgeGen != gen
	e.mu.Unlock()
	if cancelled {
		e.log.Info("scheduled purge cancelled by a commit or a flush")
		return
	}
	e.counters.purges.Add(1)
	n, err := e.purgeKernel()
	e.counters.purged.Add(uint64(n))
	e.mu.Lock()
	if e.internal != nil {
		e.internal.Flush()
	}
	e.mu.Unlock()
	if err != nil {
		e.log.Error("purge of the kernel's table failed", "removed", n, "err", err)
		return
	}
	e.log.Info("kernel's table purged", "removed", n)
}

// purgeKernel deletes from the kernel every flow the filter accepts
// (conntrackd's selective flush: what the filter ignores is not ours),
// in batches written while the dump goes on, so that memory does not
// grow with the table.
func (e *Engine) purgeKernel() (int, error) {
	const batch = 256
	keys := make([]ctnl.Flow, 0, batch)
	reqs := make([]ctnl.Request, batch)
	errs := make([]error, batch)
	chain := e.ingest.Chain()
	var view filter.Flow
	n := 0
	write := func() error {
		for i := range keys {
			reqs[i] = ctnl.Request{Op: ctnl.OpDelete, Flow: &keys[i]}
		}
		err := e.io.Commit.Apply(reqs[:len(keys)], errs[:len(keys)])
		for _, err := range errs[:len(keys)] {
			if err == nil || isNotFound(err) {
				n++
			}
		}
		keys = keys[:0]
		return err
	}
	err := e.table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		if !ev.Flow.Orig.IsValid() {
			return nil
		}
		FilterFlow(&view, &ev.Flow)
		if !chain.Pass(&view) {
			return nil
		}
		keys = append(keys, ctnl.Flow{Orig: ev.Flow.Orig, Zone: ev.Flow.Zone})
		if len(keys) == batch {
			return write()
		}
		return nil
	}, func(error) {})
	if err == nil && len(keys) > 0 {
		err = write()
	}
	return n, err
}
