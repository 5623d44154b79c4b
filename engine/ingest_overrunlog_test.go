package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A burst of overruns is logged once per overrunLogEvery, with how many
// there were; the stats count every one.
func TestIngestOverrunLogIsBounded(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10}, newFakeTable())
	var log bytes.Buffer
	x.in.io.Log = slog.New(slog.NewTextHandler(&log, nil))
	overruns := func(n int) {
		for range n {
			bridge{x.in}.Overrun(4096)
			x.turn(t)
			x.clock.Advance(time.Millisecond)
		}
	}
	overruns(1000)
	x.clock.Advance(overrunLogEvery)
	overruns(1)
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " overruns=1") || !strings.HasSuffix(lines[1], " overruns=1000") {
		t.Errorf("1001 overruns logged as:\n%s\nwant two lines, the second counting the 1000 since the first", log.String())
	}
	if got := x.in.Stats().Overruns; got != 1001 {
		t.Errorf("stats: %d overruns, want 1001", got)
	}
}

// The overruns of a burst's end, within overrunLogEvery of the last line
// about them, are counted in the line of the resync that follows.
func TestIngestOverrunLogAtResync(t *testing.T) {
	x := newIngestTest(t, IngestSettings{EventIterationLimit: 10, OverrunResync: time.Second}, newFakeTable())
	var log bytes.Buffer
	x.in.io.Log = slog.New(slog.NewTextHandler(&log, nil))
	for range 50 {
		bridge{x.in}.Overrun(4096)
		x.turn(t)
		x.clock.Advance(time.Millisecond)
	}
	x.clock.Advance(2 * time.Second)
	x.in.due(x.clock.Now())
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " overruns=1") || !strings.HasSuffix(lines[1], " overruns_not_logged=49") {
		t.Errorf("50 overruns and a resync logged as:\n%s\nwant the first overrun, then the resync counting the 49 others", log.String())
	}
}
