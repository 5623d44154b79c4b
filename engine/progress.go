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
}

// track marks the operation running and returns the progress function
// to hand down: it records each report, then passes it to fn (nil: none).
// The caller calls done when the operation ends.
func (o *opProgress) track(fn func(control.Progress)) func(control.Progress) {
	o.mu.Lock()
	o.p = render.Progress{Running: true}
	o.mu.Unlock()
	return func(p control.Progress) {
		o.mu.Lock()
		o.p = render.Progress{Running: true, Stage: p.Stage, Done: p.Done, Total: p.Total}
		o.mu.Unlock()
		if fn != nil {
			fn(p)
		}
	}
}

// done marks the operation ended; its last report stays.
func (o *opProgress) done() {
	o.mu.Lock()
	o.p.Running = false
	o.mu.Unlock()
}

func (o *opProgress) get() render.Progress {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.p
}
