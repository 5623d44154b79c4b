package engine

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/link/wire"
)

const notrackBypass = `sync "notrack" {}
cache "internal" {
  enabled = false
}
` + syncLink

// resyncFlood is one datagram of n RESYNC requests, as a hostile or
// confused peer may send.
func resyncFlood(n int) []byte {
	var b []byte
	for i := range n {
		b = wire.AppendMessage(b, &wire.Message{Header: wire.Header{Type: wire.TypeControl, Flags: wire.FlagResync, Seq: uint32(i)}})
	}
	return b
}

// Without an internal cache, each RESYNC a peer sends (and each `ctsync
// bulk`) dumps the kernel's table to the peer. Requests that arrive while
// one such dump runs are answered by one more dump, not one each: a peer
// must not make the daemon dump the table a thousand times over, nor
// start a goroutine per request. And none of them runs on after Run has
// returned.
func TestBulkDirectCoalesces(t *testing.T) {
	f := newEngineOnFakes(t, notrackBypass, tcp("198.18.0.2", 1000), tcp("198.18.0.3", 1000))
	stop := f.run(t)
	start := f.table.count() // the start-up dump
	f.table.shut()
	const requests = 50
	f.peer.deliver(resyncFlood(requests))
	waitUntil(t, "the requests to be received", func() bool { return f.Snapshot().Sync.Bulks == requests })
	f.table.open()
	stop()
	after := f.table.count()
	time.Sleep(50 * time.Millisecond)
	if late := f.table.count(); late != after {
		t.Errorf("%d dumps of the kernel's table started after Run returned", late-after)
	}
	if n := f.table.count() - start; n > 2 {
		t.Errorf("%d RESYNC requests made %d dumps of the kernel's table; want at most 2 (the one running and one after it)", requests, n)
	}
}

// A purge that is due runs on its own goroutine; Run waits for it, so
// that the daemon's Close does not pull the kernel socket from under it.
func TestRunWaitsForPurge(t *testing.T) {
	f := newEngineOnFakes(t, `sync "notrack" {
  purge_timeout = "1s"
}
`+syncLink, tcp("198.18.0.2", 1000), tcp("198.18.0.3", 1000), tcp("198.18.0.4", 1000))
	stop := f.run(t)
	for len(f.table.entered) > 0 {
		<-f.table.entered // the start-up dump
	}
	f.table.shut()
	if err := f.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	select {
	case <-f.table.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the purge did not start")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		f.table.open()
	}()
	stop()
	if n := f.commit.lateWrites(); n > 0 {
		t.Errorf("the purge wrote %d deletes to the commit socket after Run returned and it was closed", n)
	}
	if got := f.Snapshot().Operations.Purged; got != 3 {
		t.Errorf("purged %d flows before Run returned, want 3", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n := f.commit.lateWrites(); n > 0 {
		t.Errorf("the purge wrote %d deletes to the commit socket after Run returned and it was closed", n)
	}
}

// A flush that is refused changes nothing: the purge scheduled before it
// still runs.
func TestRefusedFlushKeepsThePurge(t *testing.T) {
	f := newEngineOnFakes(t, `sync "notrack" {
  purge_timeout = "1s"
}
cache "internal" {
  enabled = false
}
`+syncLink, tcp("198.18.0.2", 1000))
	f.run(t)
	if err := f.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(context.Background(), control.Internal); err == nil {
		t.Fatal("flush internal without an internal cache succeeded")
	}
	f.clock.Advance(time.Second)
	waitUntil(t, "the purge to delete the flow", func() bool { return f.Snapshot().Operations.Purged == 1 })
}
