package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
)

// A waiting resync off a terminal: its first count at once, then one a
// interval at most, and the last one at the end, unless just printed.
func TestCountLines(t *testing.T) {
	var b strings.Builder
	clock := time.Unix(0, 0)
	show, end := countLines(&b, func() time.Time { return clock }, 3*time.Second)
	for _, step := range []struct {
		after time.Duration
		done  int64
	}{{0, 0}, {time.Second, 100}, {time.Second, 200}, {time.Second, 300}, {time.Second, 400}, {500 * time.Millisecond, 450}} {
		clock = clock.Add(step.after)
		show(control.Progress{Stage: "resync", Done: step.done})
	}
	end()
	end()
	if got, want := b.String(), "resync: 0\nresync: 300\nresync: 450\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}

	b.Reset()
	show, end = countLines(&b, func() time.Time { return clock }, 3*time.Second)
	show(control.Progress{Stage: "resync", Done: 7})
	end()
	if got, want := b.String(), "resync: 7\n"; got != want {
		t.Errorf("one report: printed %q, want %q", got, want)
	}
	b.Reset()
	_, end = countLines(&b, func() time.Time { return clock }, 3*time.Second)
	end()
	if b.Len() != 0 {
		t.Errorf("no report: printed %q, want nothing", b.String())
	}
}
