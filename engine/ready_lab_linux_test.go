package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// Interop of the readiness rule (docs/readiness.md): a ctsync backup
// that resyncs from a conntrackd 1.4.7 primary becomes ready, and not
// before it holds all of conntrackd's table. conntrackd queues its whole
// cache on our RESYNC and sends its queue in order, so its ACK of a
// message sent after it acknowledged the request follows the table.
func TestReadyFromLegacyPrimary(t *testing.T) {
	netnstest.RequirePrivileged(t)
	const flows = 3000
	l := lab.New(t, lab.Options{})
	d := l.StartConntrackd(t, l.FW1)
	l.FW1.Fill(t, flows)
	lab.Eventually(t, 30*time.Second, "conntrackd's internal cache to hold the flows", func() (bool, string) {
		n := len(lines(d.MustCtl(t, "-i")))
		return n >= flows, fmt.Sprintf("%d of %d", n, flows)
	})

	rt := labConfig(t, l, l.FW2, "ftfw", "multicast", false)
	rt.Sync.StartupResync = true
	e := runEngine(t, l.FW2, rt)
	lab.Eventually(t, 30*time.Second, "the backup to be ready", func() (bool, string) {
		r, _ := e.Readiness(context.Background())
		if !r.Ready {
			return false, r.String()
		}
		// Ready: the whole table must be here by now.
		if n := len(dump(t, e, control.External)); n < flows {
			t.Fatalf("%s, with %d of conntrackd's %d flows", r, n, flows)
		}
		return true, r.String()
	})

	// Asked again on request (ctsync resync), conntrackd answers again
	// and the wait ends with the table counted.
	var last control.Progress
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.ResyncWait(ctx, func(p control.Progress) { last = p }); err != nil {
		t.Fatalf("ResyncWait from conntrackd: %v", err)
	}
	if last.Stage != "resync" || last.Done < flows {
		t.Errorf("last progress %+v, want resync with at least %d", last, flows)
	}
}
