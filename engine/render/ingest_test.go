package render_test

import (
	"testing"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/render"
)

// TestIngestConverts: the engine hands its input counters over with a
// plain conversion, which compiles only while the two structs have the
// same fields in the same order.
func TestIngestConverts(t *testing.T) {
	in := engine.IngestStats{Events: 1, Filtered: 2, OwnOrigin: 3, Skipped: 4, Overruns: 5, ReadBuffer: 6,
		Resyncs: 7, Polls: 8, DumpFailures: 9, Dumped: 10, DumpFiltered: 11}
	got := render.Ingest(in)
	if got.Events != 1 || got.ReadBuffer != 6 || got.DumpFiltered != 11 {
		t.Errorf("%+v", got)
	}
}
