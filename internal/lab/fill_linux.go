package lab

import (
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// MaxFill is how many flows Fill can make: 198.18.0.0/15 holds that many
// sources.
const MaxFill = 1 << 17

// SyntheticFlow is the i-th (0 to MaxFill-1) of a family of made-up
// established TCP flows from 198.18.0.0/15, which carries no traffic, to
// one address of it.
func SyntheticFlow(i int) ctnl.Flow {
	a := [4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)}
	o := ctnl.Tuple{Src: netip.AddrFrom4(a), Dst: netip.AddrFrom4([4]byte{198, 19, 255, 254}), Proto: 6, SrcPort: 10000, DstPort: 80}
	f := ctnl.Flow{Orig: o, Reply: o.Invert(), Timeout: 900, Status: ctnl.StatusConfirmed | ctnl.StatusSeenReply | ctnl.StatusAssured}
	f.Present |= ctnl.HasProtoInfo
	f.TCP.State = 3 // ESTABLISHED
	return f
}

// Fill creates flows SyntheticFlow(0) to SyntheticFlow(count-1) in n's
// table through ctnetlink, in batches: conntrack -I, one process per
// flow, would take minutes for 100k. Above netnstest.ConntrackMaxFloor
// flows it shares the machine's conntrack limit until t ends, so that no
// other test lowers it under this table (netnstest.LowerConntrackMax).
func (n *Node) Fill(t testing.TB, count int) {
	t.Helper()
	w := n.bigWriter(t, "Fill", count)
	defer w.Close()
	const batch = 4096
	flows := make([]ctnl.Flow, batch)
	reqs := make([]ctnl.Request, batch)
	errs := make([]error, batch)
	for start := 0; start < count; start += batch {
		m := min(batch, count-start)
		for i := range m {
			flows[i] = SyntheticFlow(start + i)
			reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: &flows[i]}
		}
		if err := w.Apply(reqs[:m], errs[:m]); err != nil {
			t.Fatalf("fill %s: %v", n.Role, err)
		}
		for i, err := range errs[:m] {
			if err != nil {
				t.Fatalf("fill %s: create %v: %v", n.Role, flows[i].Orig, err)
			}
		}
	}
}

// bigWriter is a ctnetlink writer into n's table for count flows, at
// most MaxFill. Above netnstest.ConntrackMaxFloor it shares the machine's
// conntrack limit until t ends, so that no other test lowers it under
// this table (netnstest.LowerConntrackMax).
func (n *Node) bigWriter(t testing.TB, what string, count int) *ctnl.Writer {
	t.Helper()
	if count > MaxFill {
		t.Fatalf("%s %d: at most %d", what, count, MaxFill)
	}
	if count > netnstest.ConntrackMaxFloor {
		netnstest.ShareConntrackMax(t)
	}
	var w *ctnl.Writer
	if err := n.Do(func() (err error) { w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256}); return err }); err != nil {
		t.Fatal(err)
	}
	return w
}
