package engine

import (
	"testing"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/render"
)

// An operation's reports are recorded until it ends; after that (a dump
// whose requester stopped waiting goes on reporting) they still reach
// the requester's function but leave the snapshot's "not running". A
// second operation started meanwhile owns the record.
func TestOpProgress(t *testing.T) {
	var o opProgress
	var passed []control.Progress
	report, end := o.track(func(p control.Progress) { passed = append(passed, p) })
	if got := o.get(); got != (render.Progress{Running: true}) {
		t.Errorf("after track: %+v", got)
	}
	report(control.Progress{Stage: "dump", Done: 10, Total: 100})
	want := render.Progress{Running: true, Stage: "dump", Done: 10, Total: 100}
	if got := o.get(); got != want {
		t.Errorf("after a report: %+v, want %+v", got, want)
	}
	end()
	want.Running = false
	if got := o.get(); got != want {
		t.Errorf("after end: %+v, want %+v", got, want)
	}
	report(control.Progress{Stage: "dump", Done: 20, Total: 100})
	if got := o.get(); got != want {
		t.Errorf("a report after end: %+v, want %+v", got, want)
	}
	if len(passed) != 2 {
		t.Errorf("%d reports passed on, want 2", len(passed))
	}

	report1, end1 := o.track(nil)
	report2, end2 := o.track(nil)
	report1(control.Progress{Stage: "first", Done: 1})
	end1()
	want = render.Progress{Running: true}
	if got := o.get(); got != want {
		t.Errorf("the first of two overlapping operations changed the record: %+v, want %+v", got, want)
	}
	report2(control.Progress{Stage: "second", Done: 2})
	end2()
	want = render.Progress{Stage: "second", Done: 2}
	if got := o.get(); got != want {
		t.Errorf("after the second ended: %+v, want %+v", got, want)
	}
}
