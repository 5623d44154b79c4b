package ctnl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// These tests write to the conntrack table of a fresh namespace and read
// it back with conntrack(8) and with ti-mo's Dump, decoders that share
// nothing with this package's encoder. Synthetic entries use 198.18.0.0/15
// and carry no traffic.

// kernelNS is a fresh namespace with a writer and a table opened in it.
type kernelNS struct {
	ns    *netnstest.NetNS
	w     *Writer
	table *Table
	// runLater starts the event receiver of listen(..., false).
	runLater func()
}

func newKernelNS(t testing.TB) *kernelNS {
	t.Helper()
	netnstest.RequirePrivileged(t)
	k := &kernelNS{ns: netnstest.NewNetNS(t)}
	err := k.ns.Do(func() error {
		var err error
		if k.w, err = NewWriter(WriterConfig{}); err != nil {
			return err
		}
		k.table, err = OpenTable(TableConfig{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.w.Close(); k.table.Close() })
	return k
}

// apply writes one request and returns its outcome.
func (k *kernelNS) apply(t *testing.T, op Op, f *Flow) error {
	t.Helper()
	errs := make([]error, 1)
	if err := k.w.Apply([]Request{{Op: op, Flow: f}}, errs); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return errs[0]
}

// applyBatch empties the table (expectations included), applies reqs in
// batches of batch and checks that the outcome of each is want's: nil for
// a success, else an error that is want's. It returns the outcomes.
func (k *kernelNS) applyBatch(t *testing.T, batch int, reqs []Request, want []error) []error {
	t.Helper()
	k.w.batch = batch
	if err := k.table.Flush(); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(reqs))
	if err := k.w.Apply(reqs, errs); err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if (want[i] == nil) != (errs[i] == nil) || want[i] != nil && !errors.Is(errs[i], want[i]) {
			t.Errorf("request %d (%s): got %v, want %v", i, &reqs[i], errs[i], want[i])
		}
	}
	return errs
}

func (k *kernelNS) mustApply(t *testing.T, op Op, f *Flow) {
	t.Helper()
	if err := k.apply(t, op, f); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// list is conntrack -L in the namespace: the legacy tool's view.
func (k *kernelNS) list(t *testing.T, args ...string) string {
	t.Helper()
	return k.ns.Exec(t, "conntrack", append([]string{"-L"}, args...)...)
}

// timoDump reads the table with ti-mo's own Dump.
func (k *kernelNS) timoDump(t *testing.T) []conntrack.Flow {
	t.Helper()
	var flows []conntrack.Flow
	err := k.ns.Do(func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err = c.Dump(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return flows
}

// only returns the single flow of the table.
func (k *kernelNS) only(t *testing.T) conntrack.Flow {
	t.Helper()
	flows := k.timoDump(t)
	if len(flows) != 1 {
		t.Fatalf("table has %d flows, want 1:\n%s", len(flows), k.list(t))
	}
	return flows[0]
}

const tcpEstablished = 3

func tcpFlow(src, dst string, sport, dport uint16) *Flow {
	f := &Flow{
		Orig: Tuple{
			Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
			Proto: protoTCP, SrcPort: sport, DstPort: dport,
		},
		Status:  StatusSeenReply | StatusAssured | StatusConfirmed,
		Timeout: 300,
		Present: HasProtoInfo,
		TCP:     TCPInfo{State: tcpEstablished},
	}
	f.Reply = f.Orig.Invert()
	return f
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func nat(a string, port uint16) NAT {
	n := NAT{MinPort: port, MaxPort: port}
	if a != "" {
		n.MinAddr, n.MaxAddr = addr(a), addr(a)
	}
	return n
}

// A created flow is the flow the peer had: NAT set up (so the kernel
// translates, shown by the status bits and the reply tuple), status bits
// the kernel would refuse fixed up, helper attached, sequence adjustment
// kept with a zero offset.
func TestKernelCreate(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup prepares the namespace.
		setup func(t *testing.T, k *kernelNS)
		edit  func(f *Flow)
		// want is what conntrack -L shows of the flow.
		want []string
		// check looks at ti-mo's decoding of the entry.
		check func(t *testing.T, got conntrack.Flow)
	}{{
		name: "status without CONFIRMED",
		edit: func(f *Flow) { f.Status = StatusSeenReply | StatusAssured },
		want: []string{"[ASSURED]"},
	}, {
		name: "status with EXPECTED",
		edit: func(f *Flow) { f.Status |= StatusExpected },
		want: []string{"[ASSURED]"},
	}, {
		name: "source NAT with port",
		edit: func(f *Flow) {
			f.SNAT = nat("198.18.2.1", 50000)
			f.Status |= StatusSrcNAT | StatusSrcNATDone
		},
		want: []string{"src=198.18.1.1 dst=198.18.2.1 sport=80 dport=50000"},
		check: func(t *testing.T, got conntrack.Flow) {
			if !got.Status.SrcNAT() {
				t.Errorf("status %s lacks SRC_NAT: the kernel would not translate", got.Status)
			}
		},
	}, {
		name: "destination NAT address only",
		edit: func(f *Flow) { f.DNAT = nat("198.18.3.3", 0) },
		want: []string{"src=198.18.3.3 dst=198.18.0.1 sport=80 dport=40000"},
		check: func(t *testing.T, got conntrack.Flow) {
			if !got.Status.DstNAT() {
				t.Errorf("status %s lacks DST_NAT", got.Status)
			}
		},
	}, {
		name: "destination NAT port only",
		edit: func(f *Flow) { f.DNAT = nat("", 8080) },
		want: []string{"src=198.18.1.1 dst=198.18.0.1 sport=8080 dport=40000"},
	}, {
		name: "IPv6 source NAT",
		edit: func(f *Flow) {
			f.Orig.Src, f.Orig.Dst = addr("2001:db8::1"), addr("2001:db8::2")
			f.Reply = f.Orig.Invert()
			f.SNAT = nat("2001:db8::99", 0)
		},
		want: []string{"src=2001:db8::2 dst=2001:db8::99"},
	}, {
		name: "both NATs and a stale reply tuple",
		edit: func(f *Flow) {
			// The reply tuple of the peer's kernel already shows the
			// translation; sent as is, the kernel would find nothing
			// to translate and set no NAT bit.
			f.Reply = Tuple{Src: addr("198.18.3.3"), Dst: addr("198.18.2.1"), Proto: protoTCP, SrcPort: 80, DstPort: 40000}
			f.Status |= StatusSrcNAT | StatusDstNAT
			f.DeriveNAT()
		},
		want: []string{"src=198.18.3.3 dst=198.18.2.1 sport=80 dport=40000"},
		check: func(t *testing.T, got conntrack.Flow) {
			if !got.Status.SrcNAT() || !got.Status.DstNAT() {
				t.Errorf("status %s lacks SRC_NAT or DST_NAT", got.Status)
			}
		},
	}, {
		name: "helper",
		edit: func(f *Flow) { f.Orig.DstPort, f.Reply.SrcPort, f.Helper = 21, 21, "ftp" },
		want: []string{"helper=ftp"},
	}, {
		name: "sequence adjustment with zero offset before",
		edit: func(f *Flow) {
			f.Present |= HasSeqAdj
			f.SeqAdjOrig = SeqAdj{Pos: 1000, OffsetBefore: 0, OffsetAfter: 4}
			f.SeqAdjReply = SeqAdj{Pos: 2000, OffsetBefore: 0, OffsetAfter: 0xfffffffc}
		},
		check: func(t *testing.T, got conntrack.Flow) {
			if got.SeqAdjOrig.Position != 1000 || got.SeqAdjOrig.OffsetAfter != 4 || got.SeqAdjReply.Position != 2000 {
				t.Errorf("sequence adjustment not applied: orig %s reply %s", got.SeqAdjOrig, got.SeqAdjReply)
			}
		},
	}, {
		name: "mark, zone and labels",
		setup: func(t *testing.T, k *kernelNS) {
			// The kernel stores labels only once a rule uses them.
			k.ns.Exec(t, "nft", "add table inet t; add chain inet t c; add rule inet t c ct label set 1")
		},
		edit: func(f *Flow) {
			f.Mark, f.Zone = 7, 9
			f.Labels = make([]byte, 16)
			f.Labels[0] = 0x5
		},
		want: []string{"mark=7", "zone=9"},
		check: func(t *testing.T, got conntrack.Flow) {
			if len(got.Labels) == 0 || got.Labels[0] != 5 {
				t.Errorf("labels %x, want 05 first", got.Labels)
			}
		},
	}, {
		name: "ICMP echo",
		edit: func(f *Flow) {
			f.Orig = Tuple{Src: f.Orig.Src, Dst: f.Orig.Dst, Proto: protoICMP, ICMPType: 8, ICMPID: 77}
			f.Reply, f.Present = f.Orig.Invert(), 0
		},
		want: []string{"src=198.18.0.1 dst=198.18.1.1 type=8 code=0 id=77 src=198.18.1.1 dst=198.18.0.1 type=0 code=0 id=77"},
	}, {
		name: "SCTP state and tags",
		edit: func(f *Flow) {
			f.Orig.Proto, f.Reply.Proto = protoSCTP, protoSCTP
			f.SCTP = SCTPInfo{State: 4, VTagOrig: 0x01020304, VTagReply: 0x05060708} // ESTABLISHED
		},
		want: []string{"sctp", "ESTABLISHED"},
		check: func(t *testing.T, got conntrack.Flow) {
			if p := got.ProtoInfo.SCTP; p == nil || p.VTagOriginal != 0x01020304 || p.VTagReply != 0x05060708 {
				t.Errorf("protoinfo %+v, want the tags sent", p)
			}
		},
	}, {
		name: "TCP window scale",
		edit: func(f *Flow) {
			f.TCP.WScaleOrig, f.TCP.WScaleReply = 7, 9
			fl := TCPFlags{Flags: TCPFlagWindowScale | TCPFlagSACKPerm, Mask: TCPFlagWindowScale | TCPFlagSACKPerm}
			f.TCP.FlagsOrig, f.TCP.FlagsReply = fl, fl
		},
		check: func(t *testing.T, got conntrack.Flow) {
			if p := got.ProtoInfo.TCP; p == nil || p.OriginalWindowScale != 7 || p.ReplyWindowScale != 9 {
				t.Errorf("protoinfo %+v, want window scales 7 and 9", p)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelNS(t)
			if tc.setup != nil {
				tc.setup(t, k)
			}
			f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
			tc.edit(f)
			k.mustApply(t, OpCreate, f)
			out := k.list(t)
			if f.Zone != 0 {
				out = k.list(t, "-w", "9")
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("conntrack -L lacks %q:\n%s", w, out)
				}
			}
			if tc.check != nil {
				tc.check(t, k.only(t))
			}
		})
	}
}

// A flow read back from the table and written into another table comes
// out the same: the NAT, helper and state survive the round trip.
func TestKernelRoundTrip(t *testing.T) {
	a, b := newKernelNS(t), newKernelNS(t)
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21)
	f.Helper, f.Mark = "ftp", 3
	f.SNAT, f.DNAT = nat("198.18.2.1", 50000), nat("198.18.3.3", 2121)
	a.mustApply(t, OpCreate, f)

	var got []Flow
	if err := a.table.Dump(FamilyAll, func(ev *Event) error { got = append(got, ev.Flow); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("dump gave %d flows, want 1", len(got))
	}
	if got[0].SNAT != f.SNAT || got[0].DNAT != f.DNAT {
		t.Errorf("decoded NAT %+v %+v, want %+v %+v", got[0].SNAT, got[0].DNAT, f.SNAT, f.DNAT)
	}
	b.mustApply(t, OpCreate, &got[0])
	norm := func(s string) string {
		// The flow's line, without the remaining timeout, which ticks.
		for _, l := range strings.Split(s, "\n") {
			if fs := strings.Fields(l); len(fs) > 3 && fs[0] == "tcp" {
				fs[2] = "T"
				return strings.Join(fs, " ")
			}
		}
		return s
	}
	la, lb := norm(a.list(t)), norm(b.list(t))
	if la != lb {
		t.Errorf("tables differ after the round trip:\n%s\n%s", la, lb)
	}
}

// An update changes what it is given, and only that: the mark is reset to
// zero, NAT and helper stay, a NAT'd flow's status is accepted.
func TestKernelUpdate(t *testing.T) {
	k := newKernelNS(t)
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21)
	f.Mark, f.Helper = 7, "ftp"
	f.SNAT = nat("198.18.2.1", 50000)
	k.mustApply(t, OpCreate, f)

	var got Flow
	err := k.table.Dump(FamilyAll, func(ev *Event) error { got = ev.Flow; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Mark, got.Timeout = 0, 1000
	k.mustApply(t, OpUpdate, &got)
	out := k.list(t)
	for _, w := range []string{"mark=0", "helper=ftp", "dst=198.18.2.1 sport=21 dport=50000"} {
		if !strings.Contains(out, w) {
			t.Errorf("after update, conntrack -L lacks %q:\n%s", w, out)
		}
	}
	if tm := k.only(t).Timeout; tm < 900 {
		t.Errorf("timeout %d after update, want about 1000", tm)
	}
}

// Create refuses an existing flow; create-or-update updates it; update
// and delete refuse a missing one. Outcomes in a batch are told apart.
func TestKernelOps(t *testing.T) {
	k := newKernelNS(t)
	a := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	b := tcpFlow("198.18.0.2", "198.18.1.1", 40000, 80)
	c := tcpFlow("198.18.0.3", "198.18.1.1", 40000, 80)
	a2 := *a
	a2.Timeout = 1000
	reqs := []Request{
		{Op: OpCreate, Flow: a},
		{Op: OpCreate, Flow: a},         // EEXIST
		{Op: OpUpdate, Flow: b},         // ENOENT
		{Op: OpCreate, Flow: &Flow{}},   // does not encode
		{Op: OpCreateOrUpdate, Flow: c}, // creates
		{Op: OpCreateOrUpdate, Flow: &a2},
		{Op: OpDelete, Flow: b}, // ENOENT
		{Op: OpDelete, Flow: c},
	}
	want := []error{nil, unix.EEXIST, unix.ENOENT, errNoTuple, nil, nil, unix.ENOENT, nil}
	for _, batch := range []int{1, 3, 64} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			k.applyBatch(t, batch, reqs, want)
			flows := k.timoDump(t)
			if len(flows) != 1 || flows[0].TupleOrig.IP.SourceAddress != a.Orig.Src || flows[0].Timeout < 900 {
				t.Errorf("table after the batch: %v, want only the first flow with timeout about 1000", flows)
			}
		})
	}
}

// The kernel refuses to change the NAT of an existing flow, so
// create-or-update of a NAT'd flow that exists fails with EOPNOTSUPP (the
// engine then updates), and an update cannot set EXPECTED on a flow
// created without a master (EBUSY): the two refusals Op's documentation
// warns of.
func TestKernelRefusals(t *testing.T) {
	k := newKernelNS(t)
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21)
	f.SNAT = nat("198.18.2.1", 50000)
	k.mustApply(t, OpCreate, f)
	if err := k.apply(t, OpCreateOrUpdate, f); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("create-or-update of an existing NAT'd flow: %v, want EOPNOTSUPP", err)
	}
	k.mustApply(t, OpUpdate, f)
	f.Status |= StatusExpected
	if err := k.apply(t, OpUpdate, f); !errors.Is(err, unix.EBUSY) {
		t.Errorf("update setting EXPECTED: %v, want EBUSY", err)
	}
}
