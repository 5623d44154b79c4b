package lab

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// A stream creates flows a chunk at a time and, after each chunk,
// changes the mark of some flows of the chunk before and destroys others:
// the kernel events a busy firewall's sync daemon sees, for fault tests.
const (
	StreamChunk    = 1000
	streamUpdates  = 100
	streamDestroys = 50
)

// StreamFlow is the i-th flow of a stream: SyntheticFlow, every tenth
// with a source NAT (to an address that carries no traffic either), so
// that NAT replicates under a fault too.
func StreamFlow(i int) ctnl.Flow {
	f := SyntheticFlow(i)
	if i%10 == 0 {
		nat := netip.AddrFrom4([4]byte{198, 19, 255, 253})
		f.SNAT = ctnl.NAT{MinAddr: nat, MaxAddr: nat}
		f.Status |= ctnl.StatusSrcNAT
	}
	return f
}

// Stream creates flows StreamFlow(0) to StreamFlow(n-1) in n's kernel
// table through ctnetlink, StreamChunk at a time with a short pause
// between chunks; after each chunk it updates and destroys some flows of
// the previous one (and of the last chunk at the end). It calls between
// (if not nil) after each chunk, numbered from 0, for a test to inject
// its fault while the stream runs, and returns how many of the flows
// remain.
func (n *Node) Stream(t testing.TB, count int, between func(chunk int)) (live int) {
	t.Helper()
	w := n.bigWriter(t, "Stream", count)
	defer w.Close()
	apply := func(what string, reqs []ctnl.Request) {
		t.Helper()
		errs := make([]error, len(reqs))
		if err := w.Apply(reqs, errs); err != nil {
			t.Fatalf("%s on %s: %v", what, n.Role, err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s on %s: %s: %v", what, n.Role, reqs[i].String(), err)
			}
		}
	}
	churn := func(base, size int) {
		var reqs []ctnl.Request
		for i := range min(streamUpdates, size) {
			f := StreamFlow(base + i*size/min(streamUpdates, size))
			f.Mark = uint32(1 + i)
			reqs = append(reqs, ctnl.Request{Op: ctnl.OpUpdate, Flow: &f})
		}
		// Odd offsets: never a flow just updated.
		for i := range min(streamDestroys, size/2) {
			f := StreamFlow(base + 1 + 2*(i*(size/2)/min(streamDestroys, size/2)))
			reqs = append(reqs, ctnl.Request{Op: ctnl.OpDelete, Flow: &f})
			live--
		}
		apply("update and destroy", reqs)
	}
	for start := 0; start < count; start += StreamChunk {
		m := min(StreamChunk, count-start)
		reqs := make([]ctnl.Request, m)
		for i := range m {
			f := StreamFlow(start + i)
			reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: &f}
		}
		apply("create", reqs)
		live += m
		if start > 0 {
			churn(start-StreamChunk, StreamChunk)
		}
		if between != nil {
			between(start / StreamChunk)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if count > 0 {
		last := (count - 1) / StreamChunk * StreamChunk
		churn(last, count-last)
	}
	return live
}
