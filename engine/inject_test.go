package engine

import (
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link/wire"
)

const notrackInject = `sync "notrack" {}
cache "external" {
  enabled = false
}
` + syncLink

// Without an external cache, a received SCTP update without its state (a
// sender without an internal cache sends such updates with real ports)
// keeps its ports when the kernel has the flow with them, as
// docs/compat.md says: the write goes to that flow, not to a port-less
// one made up beside it.
func TestInjectKeepsPortsTheKernelKnows(t *testing.T) {
	orig := cache.Tuple{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), Proto: 132, SrcPort: 5000, DstPort: 6000}
	f := newEngineOnFakes(t, notrackInject, flowOf(132, "198.18.0.1", "198.18.0.2", 5000, 6000))
	f.run(t)
	var msg wire.Message
	WireFromCache(&msg.Flow, &cache.Flow{Orig: orig, Timeout: 120, Status: 8}, ConvertOptions{})
	msg.Type = wire.TypeCTUpdate
	f.peer.deliver(wire.AppendMessage(nil, &msg))
	waitUntil(t, "the update to be written", func() bool { return len(f.inject.written()) > 0 })
	got := f.inject.written()[0].Orig
	if got.SrcPort != 5000 || got.DstPort != 6000 {
		t.Errorf("an update of the kernel's SCTP flow %v was written to %v", orig, got)
	}
}
