package engine

import (
	"sync"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/render"
)

// opProgress records how far an operation (a commit, a resync with the
// kernel's table) got, for the stats and the metrics: the client that
// asked for it sees its progress, everyone else the snapshot's.
type opProgress struct {
	mu sync.Mutex
	p  render.Progress
	// gen numbers the operations tracked: a report or an end of an
	// earlier one changes nothing.
	gen uint64
}

// track marks the operation running and returns the progress function
// to hand down: it records each report, then passes it to fn (nil: none).
// The caller calls end when the operation ends; reports after that are
// still passed to fn, but not recorded: a dump whose requester stopped
// waiting goes on, and would otherwise mark the operation running again,
// for good.
func (o *opProgress) track(fn func(control.Progress)) (report func(control.Progress), end func()) {
	o.mu.Lock()
	o.gen++
	gen := o.gen
	o.p = render.Progress{Running: true}
	o.mu.Unlock()
	report = func(p control.Progress) {
		o.mu.Lock()
		if o.gen == gen && o.p.Running {
			o.p = render.Progress{Running: true, Stage: p.Stage, Done: p.Done, Total: p.Total}
		}
		o.mu.Unlock()
		if fn != nil {
			fn(p)
		}
	}
	end = func() {
		o.mu.Lock()
		if o.gen == gen {
			o.p.Running = false // its last report stays
		}
		o.mu.Unlock()
	}
	return report, end
}

func (o *opProgress) get() render.Progress {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.p
}
