package engine

import (
	"bytes"
	"context"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/render"
)

// The requests of conntrackd's command line (engine/legacyops.go) in stats
// mode, as conntrackd's stats mode answers them (src/stats-mode.c): only
// the stats cache and the kernel's table exist.

// CommitTable is refused, as Commit is.
func (l *FlowLog) CommitTable(ctx context.Context, _ control.Table, progress func(control.Progress)) error {
	return l.Commit(ctx, progress)
}

// ResyncKernel reads the kernel's table into the stats cache (-R).
func (l *FlowLog) ResyncKernel(ctx context.Context, _ control.Table, progress func(control.Progress)) error {
	return l.Resync(ctx, true, progress)
}

// DumpExpect is refused: stats mode keeps no expectations.
func (l *FlowLog) DumpExpect(context.Context, control.Cache, control.Format, control.Emit) error {
	return errStatsMode("dump of expectations")
}

// StatsSection writes the statistics (-s); -s cache and -s runtime have
// their blocks, as conntrackd answers them in every mode (src/run.c's
// local_handler, src/stats-mode.c's local_handler_stats), and the sections
// that are about a peer or queues have nothing in stats mode.
func (l *FlowLog) StatsSection(ctx context.Context, section control.Section, emit control.Emit) error {
	switch section {
	case control.SectionCache:
		s := l.Snapshot()
		return emitLines(s.Internal.AppendExtended(nil, "stats"), emit)
	case control.SectionRuntime:
		s := l.Snapshot()
		b, err := render.AppendStatsText(nil, &s, render.SectionRuntime)
		if err != nil {
			return err
		}
		return emitLines(b, emit)
	case control.SectionGeneral:
		var lines [][]byte
		err := l.Stats(ctx, control.Text, func(line []byte) error {
			lines = append(lines, bytes.Clone(line))
			return nil
		})
		if err != nil {
			return err
		}
		for _, line := range lines {
			if err := emit(line); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// emitLines emits b's lines, without their newlines.
func emitLines(b []byte, emit control.Emit) error {
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if err := emit(line); err != nil {
			return err
		}
	}
	return nil
}

// FlushKernel is refused for now: conntrackd's -F also works in stats
// mode; `ctsync flush-kernel` needs a running sync engine.
func (l *FlowLog) FlushKernel(context.Context, control.Table) error {
	return errStatsMode("flush of the kernel's table")
}

// ResyncWait is refused: there is no peer to ask.
func (l *FlowLog) ResyncWait(context.Context, func(control.Progress)) error {
	return errStatsMode("resync")
}

// Readiness: stats mode copies no peer's state, so there is nothing to
// wait for once it serves; systemd's READY=1 then comes at once, as
// before.
func (l *FlowLog) Readiness(context.Context) (control.Readiness, error) {
	select {
	case <-l.ready:
		return control.Readiness{Ready: true, Reason: "stats mode: no peer's state to copy"}, nil
	default:
		return control.Readiness{Reason: "starting: loading the kernel's table"}, nil
	}
}
