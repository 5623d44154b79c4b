package engine

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// An expectation's NAT and function go to the wire and back whole, so
// that the peer's kernel translates the expected flow as this one would
// (NAT'd FTP needs nat-follow-master). Only an IPv6 NAT address is lost:
// conntrackd has no attribute for it.
func TestConvertExpectNAT(t *testing.T) {
	ftp := func() ctnl.Expect {
		return ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff),
			Timeout: 300, Helper: "ftp", Function: "nat-follow-master",
			NAT: ctnl.ExpectNAT{Dir: 1, Tuple: tuple(protoTCP, "0.0.0.0", "0.0.0.0", 40011, 0)},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(e *ctnl.Expect)
		// has are attributes the message must carry, hasnt those
		// it must not.
		has, hasnt []wire.ExpAttr
		want       func(e *ctnl.Expect)
	}{{
		name: "FTP behind NAT",
		has:  []wire.ExpAttr{wire.ExpAttrNATIPv4, wire.ExpAttrNATL4Proto, wire.ExpAttrNATPort, wire.ExpAttrNATDir, wire.ExpAttrFn},
	}, {
		name: "saved address, original direction",
		edit: func(e *ctnl.Expect) {
			e.NAT = ctnl.ExpectNAT{Dir: 0, Tuple: tuple(protoTCP, "203.0.113.9", "0.0.0.0", 2121, 0)}
		},
	}, {
		name:  "function without NAT",
		edit:  func(e *ctnl.Expect) { e.NAT = ctnl.ExpectNAT{} },
		has:   []wire.ExpAttr{wire.ExpAttrFn},
		hasnt: []wire.ExpAttr{wire.ExpAttrNATIPv4, wire.ExpAttrNATL4Proto, wire.ExpAttrNATPort, wire.ExpAttrNATDir},
	}, {
		name: "IPv6: the address is not sent, the port is",
		edit: func(e *ctnl.Expect) {
			e.Master = tuple(protoTCP, "2001:db8::1", "2001:db8::2", 36462, 21)
			e.Tuple = tuple(protoTCP, "2001:db8::2", "2001:db8::1", 0, 40010)
			all := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
			e.Mask = tuple(protoTCP, all, all, 0, 0xffff)
			e.NAT.Tuple = tuple(protoTCP, "2001:db8::9", "::", 40011, 0)
		},
		has:   []wire.ExpAttr{wire.ExpAttrNATL4Proto, wire.ExpAttrNATPort, wire.ExpAttrNATDir},
		hasnt: []wire.ExpAttr{wire.ExpAttrNATIPv4},
		want:  func(e *ctnl.Expect) { e.NAT.Tuple.Src = netip.IPv6Unspecified() },
	}, {
		// conntrackd decides every group's ports by the master's
		// protocol, GRE's keys included (src/build.c).
		name:  "no ports for a GRE master",
		edit:  func(e *ctnl.Expect) { e.Master.Proto, e.NAT.Tuple.Proto = 47, 47 },
		hasnt: []wire.ExpAttr{wire.ExpAttrNATPort, wire.ExpAttrMasterPort},
		want: func(e *ctnl.Expect) {
			e.Master.SrcPort, e.Master.DstPort, e.NAT.Tuple.SrcPort = 0, 0, 0
			e.Tuple.DstPort, e.Mask.DstPort = 0, 0
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := ftp()
			if tc.edit != nil {
				tc.edit(&e)
			}
			var m wire.Message
			m.Type = wire.TypeExpNew
			WireExpect(&m.Exp, &e, ConvertOptions{})
			for _, a := range tc.has {
				if !m.Exp.Has(a) {
					t.Errorf("message lacks attribute %d", a)
				}
			}
			for _, a := range tc.hasnt {
				if m.Exp.Has(a) {
					t.Errorf("message has attribute %d", a)
				}
			}
			got := expectThroughWire(t, &e, ConvertOptions{})
			want := e
			if tc.want != nil {
				tc.want(&want)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("expectation after the wire (-want +got):\n%s", diff)
			}
		})
	}
}

// What a peer sends is taken as libnetfilter_conntrack would send it to
// the kernel: NAT only with both a tuple and a direction, the master's
// protocol when the tuple has none, an IPv4 NAT address only for an IPv4
// master.
func TestKernelExpectNAT(t *testing.T) {
	base := func() wire.Expect {
		var w wire.Expect
		e := ctnl.Expect{
			Master: tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:  tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:   tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff),
		}
		WireExpect(&w, &e, ConvertOptions{})
		w.NAT = wire.Tuple{Src: addr("203.0.113.9"), Dst: addr("0.0.0.0"), Proto: protoTCP, SrcPort: 2121}
		w.NATDir = 1
		return w
	}
	for _, tc := range []struct {
		name    string
		set     []wire.ExpAttr
		edit    func(w *wire.Expect)
		want    ctnl.ExpectNAT
		wantErr error
	}{{
		name: "whole",
		set:  []wire.ExpAttr{wire.ExpAttrNATIPv4, wire.ExpAttrNATL4Proto, wire.ExpAttrNATPort, wire.ExpAttrNATDir},
		want: ctnl.ExpectNAT{Dir: 1, Tuple: tuple(protoTCP, "203.0.113.9", "0.0.0.0", 2121, 0)},
	}, {
		name: "no direction: no NAT",
		set:  []wire.ExpAttr{wire.ExpAttrNATIPv4, wire.ExpAttrNATL4Proto, wire.ExpAttrNATPort},
	}, {
		name: "direction only: no NAT",
		set:  []wire.ExpAttr{wire.ExpAttrNATDir},
	}, {
		name: "port and direction: unspecified address, master's protocol",
		set:  []wire.ExpAttr{wire.ExpAttrNATPort, wire.ExpAttrNATDir},
		want: ctnl.ExpectNAT{Dir: 1, Tuple: tuple(protoTCP, "0.0.0.0", "0.0.0.0", 2121, 0)},
	}, {
		name: "IPv4 NAT address for an IPv6 master",
		set:  []wire.ExpAttr{wire.ExpAttrNATIPv4, wire.ExpAttrNATDir},
		edit: func(w *wire.Expect) {
			w.Attrs.Clear(uint8(wire.ExpAttrMasterIPv4))
			w.Set(wire.ExpAttrMasterIPv6)
			w.Master.Src, w.Master.Dst = addr("2001:db8::1"), addr("2001:db8::2")
		},
		wantErr: ErrFamilyMix,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := base()
			for _, a := range tc.set {
				w.Set(a)
			}
			if tc.edit != nil {
				tc.edit(&w)
			}
			var e ctnl.Expect
			err := KernelExpect(&e, &w, ConvertOptions{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, e.NAT, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("NAT (-want +got):\n%s", diff)
			}
		})
	}
}

// A function name received is interned: known names do not allocate.
func TestKernelExpectFunctionName(t *testing.T) {
	var w wire.Expect
	e := ctnl.Expect{
		Master:   tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
		Tuple:    tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
		Mask:     tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff),
		Function: "nat-follow-master",
	}
	WireExpect(&w, &e, ConvertOptions{})
	var got ctnl.Expect
	if n := testing.AllocsPerRun(10, func() {
		if err := KernelExpect(&got, &w, ConvertOptions{}); err != nil {
			t.Fatal(err)
		}
	}); n != 0 || got.Function != e.Function {
		t.Errorf("function %q with %v allocations, want %q with none", got.Function, n, e.Function)
	}
}
