package engine

import (
	"testing"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// The events of our own commit pass the filter too, as in conntrackd
// (src/run.c filters an event before it looks at its origin): a flow the
// filter ignores is not ours to keep. Recorded in the internal cache, it
// would never leave it, since its later kernel events are filtered: it
// would be listed, and bulk-sent to the peer, long after the kernel
// dropped it.
func TestCommittedFlowsPassTheFilter(t *testing.T) {
	f := newEngineOnFakes(t, `filter {
  stage "address" {
    ignore = ["198.18.5.0/24"]
  }
}
sync "ftfw" {}
`+syncLink)
	f.run(t)
	ignored := tcp("198.18.5.1", 1000)
	f.events.event(eventOf(ctnl.EventNew, ignored, f.commit.port))
	f.events.event(eventOf(ctnl.EventDestroy, ignored, 0))
	waitUntil(t, "the events", func() bool { return f.ingest.Stats().Events == 2 })
	f.mu.Lock()
	n := f.internal.Len()
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("the internal cache holds %d flows after the commit and the destruction of a flow the filter ignores, want 0", n)
	}
}
