package syncmode_test

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/syncmode"
)

// BenchmarkBulkSend is a bulk send (`ctsync bulk`, or the answer to a
// peer's RESYNC) of a million cached flows under FT-FW: every flow
// queued, then one transmission encoding them into datagrams, per
// operation, from a fresh session as after a peer's restart. The lab's
// figures (internal/figures) found the daemon spending about 8 µs per
// flow on it; this isolates the mode's share.
func BenchmarkBulkSend(b *testing.B) {
	const flows = 1_000_000
	for b.Loop() {
		b.StopTimer()
		out := &direct{now: new(time.Time)}
		n := newNode(b, "a", nodeOpts{kind: syncmode.FTFW, seed: 1, senders: []syncmode.Sender{out}})
		for i := range flows {
			f := testFlow(i)
			n.internal.Replace(&f, t0)
		}
		b.StartTimer()
		n.m.BulkSend()
		if err := n.m.Flush(t0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(out.bytes)/flows, "wire-B/flow")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/flows, "ns/flow")
}
