package engine

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// roomWriter is a kernel table with room for room flows: a create
// beyond it fails with ENOMEM, as the kernel's does at nf_conntrack_max,
// and one of a flow in chainFull with ENOSPC, as the kernel's does when
// the flow's hash chain is too long.
type roomWriter struct {
	memWriter
	room      int
	table     map[ctnl.Tuple]bool
	chainFull map[ctnl.Tuple]bool
}

func (w *roomWriter) Apply(reqs []ctnl.Request, errs []error) error {
	if err := w.memWriter.Apply(reqs, errs); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range reqs {
		if r.Flow == nil || w.table[r.Flow.Orig] || r.Op == ctnl.OpDelete {
			continue
		}
		if w.chainFull[r.Flow.Orig] {
			errs[i] = fmt.Errorf("create: %w", syscall.ENOSPC)
			continue
		}
		if len(w.table) >= w.room {
			errs[i] = fmt.Errorf("create: %w", syscall.ENOMEM)
			continue
		}
		w.table[r.Flow.Orig] = true
	}
	return nil
}

// A commit into a full table says how many flows the kernel refused and
// why, counts them, and keeps them in the external cache: the commit
// after the limits are raised writes them.
func TestCommitReportsTableFull(t *testing.T) {
	rt := runtimeOf(t, `sync "notrack" {}`+syncLink)
	w := &roomWriter{memWriter: memWriter{port: 100}, room: 3, table: map[ctnl.Tuple]bool{}, chainFull: map[ctnl.Tuple]bool{}}
	f := &engineOnFakes{clock: newFakeClock(), events: newFakeSource(), table: newGatedTable(), commit: &w.memWriter, peer: newMemPeer(1400)}
	var err error
	if f.Engine, err = New(rt, IO{Clock: f.clock, Events: f.events, Table: f.table, Commit: w, Peer: f.peer}, Options{}); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	const n = 5
	for i := range n {
		var msg wire.Message
		orig := cache.Tuple{Src: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), Dst: netip.MustParseAddr("198.18.1.1"), Proto: 17, SrcPort: 5000, DstPort: 53}
		if i == 0 {
			w.chainFull[ctnl.Tuple{Src: orig.Src, Dst: orig.Dst, Proto: orig.Proto, SrcPort: orig.SrcPort, DstPort: orig.DstPort}] = true
		}
		WireFromCache(&msg.Flow, &cache.Flow{Orig: orig, Timeout: 120, Status: 8}, ConvertOptions{})
		msg.Type = wire.TypeCTNew
		f.peer.deliver(wire.AppendMessage(nil, &msg))
	}
	external := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.external.Len()
	}
	waitUntil(t, "the flows in the external cache", func() bool { return external() == n })

	err = f.Commit(context.Background(), nil)
	if err == nil {
		t.Fatal("a commit of 5 flows into a table with room for 3 succeeded")
	}
	for _, want := range []string{"2 of 5 flows", "1 refused because the kernel's conntrack table is full (net.netfilter.nf_conntrack_max",
		"1 refused because their bucket of the kernel's conntrack hash table is full (raise net.netfilter.nf_conntrack_buckets)", "commit again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the commit's error does not say %q: %v", want, err)
		}
	}
	if got := f.counters.commitFailed.Load(); got != 2 {
		t.Errorf("commit failures counted: %d, want 2", got)
	}
	if got := external(); got != n {
		t.Errorf("the external cache holds %d flows after the failed commit, want %d", got, n)
	}

	w.mu.Lock()
	w.room, w.chainFull = 100, nil
	w.mu.Unlock()
	if err := f.Commit(context.Background(), nil); err != nil {
		t.Fatalf("the commit after the limit was raised: %v", err)
	}
	if len(w.table) != n {
		t.Errorf("the table holds %d flows after the second commit, want %d", len(w.table), n)
	}
}
