package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
)

// The operations that serve conntrackd's command line beyond ctsync's
// own commands: one table at a time (-c ct, -R expect, -i expect), one
// section of the statistics (-s cache) and the kernel flush (-F).

// CommitTable writes one table of the external cache into the kernel
// (conntrackd -c ct, -c expect).
func (e *Engine) CommitTable(ctx context.Context, table control.Table, progress func(control.Progress)) error {
	if table == control.Expectations && e.eexp == nil {
		return errors.New("commit expect: expectations are not replicated (sync.expectations is off)")
	}
	return e.commit(ctx, table, progress)
}

// ResyncKernel reloads the internal cache from the kernel (conntrackd -R
// ct, -R expect). The input stage dumps both tables in one go, so both
// are reloaded: reloading the other table too changes nothing the
// caller can tell, the kernel being the truth for both.
func (e *Engine) ResyncKernel(ctx context.Context, table control.Table, progress func(control.Progress)) error {
	if table == control.Expectations && e.iexp == nil {
		return errors.New("resync expect: expectations are not replicated (sync.expectations is off)")
	}
	return e.Resync(ctx, true, progress)
}

// DumpExpect lists the expectations of a cache (conntrackd -i expect,
// -e expect), as text, JSON or XML.
func (e *Engine) DumpExpect(ctx context.Context, which control.Cache, format control.Format, emit control.Emit) error {
	c := e.iexp
	if which == control.External {
		c = e.eexp
	}
	if c == nil {
		// conntrackd lists nothing then, without a word.
		return nil
	}
	// Few expectations: rendered under the lock in one go.
	var buf []byte
	var ends []int
	e.mu.Lock()
	now := e.io.Clock.Now()
	for _, ent := range c.All() {
		if ent.State == cache.Dead {
			continue
		}
		switch format {
		case control.JSON:
			buf = render.AppendExpectJSON(buf, ent, now)
		case control.XML:
			buf = render.AppendExpectXML(buf, ent)
		default:
			buf = render.AppendExpectText(buf, ent, now)
		}
		ends = append(ends, len(buf))
	}
	e.mu.Unlock()
	start := 0
	for _, end := range ends {
		if err := emit(buf[start:end]); err != nil {
			return err
		}
		start = end
	}
	return ctx.Err()
}

// StatsSection writes one section of the statistics as conntrackd's -s
// SECTION prints it.
func (e *Engine) StatsSection(ctx context.Context, section control.Section, emit control.Emit) error {
	s := e.Snapshot()
	var b []byte
	var err error
	switch section {
	case control.SectionGeneral:
		b, err = render.AppendStatsText(nil, &s, render.SectionGeneral)
	case control.SectionNetwork, control.SectionCache, control.SectionRuntime, control.SectionLink, control.SectionRSQueue:
		b, err = render.AppendStatsText(nil, &s, render.Section(section))
	case control.SectionExpect:
		if s.InternalExpect != nil {
			b = s.InternalExpect.AppendText(b, "internal")
		}
		if s.ExternalExpect != nil {
			b = s.ExternalExpect.AppendText(b, "external")
		}
	case control.SectionProcess, control.SectionQueue:
		// ctsync runs no child processes (conntrackd lists its running
		// ones, usually none) and has no queues of conntrackd's kind
		// (docs/compat.md): nothing to print.
	default:
		return fmt.Errorf("stats: unknown section %q", section)
	}
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if err := emit(line); err != nil {
			return err
		}
	}
	return nil
}

// FlushKernel deletes from the kernel's table the flows the filter
// accepts (conntrackd -F ct: those it ignores are not this daemon's) and,
// for expectations, every expectation (-F expect), both for the zero
// table (-F). It waits for a commit or purge in progress.
func (e *Engine) FlushKernel(ctx context.Context, table control.Table) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if table != control.Expectations {
		n, err := e.purgeKernel()
		e.counters.purged.Add(uint64(n))
		if err != nil {
			return fmt.Errorf("flush-kernel: %d flows deleted, then: %w", n, err)
		}
		e.log.Info("kernel's table flushed", "removed", n)
	}
	if table == control.Conntracks || (table == "" && e.iexp == nil && e.eexp == nil) {
		// conntrackd's -F flushes expectations only with ExpectationSync.
		return nil
	}
	n, err := e.flushKernelExpect()
	if err != nil {
		return fmt.Errorf("flush-kernel expect: %d expectations deleted, then: %w", n, err)
	}
	e.log.Info("kernel's expectation table flushed", "removed", n)
	return nil
}

// flushKernelExpect deletes every expectation of the kernel's table.
func (e *Engine) flushKernelExpect() (int, error) {
	var xs []ctnl.Expect
	err := e.table.DumpExpect(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		if ev.Expect != nil {
			xs = append(xs, *ev.Expect)
		}
		return nil
	}, func(error) {})
	if err != nil || len(xs) == 0 {
		return 0, err
	}
	reqs := make([]ctnl.Request, len(xs))
	errs := make([]error, len(xs))
	for i := range xs {
		reqs[i] = ctnl.Request{Op: ctnl.OpDelete, Expect: &xs[i]}
	}
	err = e.io.Commit.Apply(reqs, errs)
	n := 0
	for _, err := range errs {
		if err == nil || errors.Is(err, syscall.ENOENT) {
			n++
		}
	}
	return n, err
}

// legacyStepBuckets is how many buckets of the external cache
// conntrackd's commit walks in one step (src/external_cache.c's
// CONFIG(commit_steps) default): a cache of at most this many commits in
// one step, the case of its defects F.1 items 1 and 3.
const legacyStepBuckets = 8192

// noteLegacyFlush logs what conntrackd 1.4.7 would have done with a
// flush where it is broken and ctsync is not (docs/compat.md,
// "conntrackd's command line"), so that an operator comparing the two
// knows why they differ.
func (e *Engine) noteLegacyFlush(which control.Cache) {
	if e.internal == nil && which != control.External {
		e.log.Info("conntrackd 1.4.7 would have deleted the kernel's table here (flush without an internal cache); ctsync leaves it alone")
	}
	if which != control.Internal && e.counters.commits.Load() > 0 && e.rt.Caches.External.Size <= legacyStepBuckets {
		e.log.Info("conntrackd 1.4.7 would have refused this flush after its one-step commit (\"ignoring flush command, commit still in progress\"); ctsync flushes")
	}
}

// noteLegacyCommit logs that conntrackd 1.4.7's one-step commit would
// have left the expectations out.
func (e *Engine) noteLegacyCommit(expectations int) {
	if expectations > 0 && e.rt.Caches.External.Size <= legacyStepBuckets {
		e.log.Info("conntrackd 1.4.7 would not have committed the expectations (its one-step commit skips them); ctsync did", "expectations", expectations)
	}
}
