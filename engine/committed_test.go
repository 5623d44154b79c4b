package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
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

// The running commit's progress is in the snapshot, for `ctsync stats`
// and the metrics, as it is reported to the client that asked for it;
// once done, the last report stays, no longer running.
func TestCommitProgressInSnapshot(t *testing.T) {
	f := newEngineOnFakes(t, "sync \"ftfw\" {}\n"+syncLink)
	f.run(t)
	const n = 2*commitBatch + 100 // three batches
	f.mu.Lock()
	var c cache.Flow
	for i := range n {
		CacheFromKernel(&c, tcp(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), 1000))
		f.external.Update(&c, f.clock.Now())
	}
	f.mu.Unlock()
	if p := f.Snapshot().Commit; p != (render.Progress{}) {
		t.Fatalf("before any commit, the snapshot says %+v", p)
	}
	var during []render.Progress
	var told []control.Progress
	err := f.Commit(context.Background(), func(p control.Progress) {
		told = append(told, p)
		during = append(during, f.Snapshot().Commit)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(told) < 3 {
		t.Fatalf("the client was told %d reports, want one per batch at least: %v", len(told), told)
	}
	for i, p := range told {
		want := render.Progress{Running: true, Stage: p.Stage, Done: p.Done, Total: p.Total}
		if during[i] != want {
			t.Errorf("report %d: the snapshot says %+v while the client is told %+v", i, during[i], p)
		}
	}
	want := render.Progress{Stage: "commit", Done: n, Total: n}
	if got := f.Snapshot().Commit; got != want {
		t.Errorf("after the commit, the snapshot says %+v, want %+v", got, want)
	}
	if got := f.Snapshot().Operations.Commits; got != 1 {
		t.Errorf("commits = %d, want 1", got)
	}
}
