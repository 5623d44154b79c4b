package ctnl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// natExpect is an FTP expectation behind NAT, every field set.
func natExpect() *Expect {
	e := ftpExpect()
	e.Zone, e.Flags, e.Class = 9, 1, 2
	e.Function = "nat-follow-master"
	e.NAT = ExpectNAT{Dir: 1, Tuple: Tuple{Src: addr("0.0.0.0"), Dst: addr("0.0.0.0"), Proto: protoTCP, SrcPort: 50001}}
	return e
}

// The bytes the kernel needs, attribute by attribute.
func TestEncodeExpectAttributes(t *testing.T) {
	const create = netlink.Create | netlink.Excl
	for _, tc := range []struct {
		name  string
		op    Op
		edit  func(*Expect)
		path  []uint16
		want  []byte // nil: must be absent
		flags netlink.HeaderFlags
	}{
		{"create sends the master", OpCreate, nil, []uint16{ctaExpectMaster, ctaTupleProto, ctaProtoDstPort}, []byte{0, 21}, create},
		{"create-or-update has no EXCL", OpCreateOrUpdate, nil, []uint16{ctaExpectMask, ctaTupleProto, ctaProtoDstPort}, []byte{0xff, 0xff}, netlink.Create},
		{"update sends the three tuples", OpUpdate, nil, []uint16{ctaExpectTuple, ctaTupleProto, ctaProtoDstPort}, []byte{0xc3, 0x50}, 0},
		{"helper name ends with NUL", OpCreate, nil, []uint16{ctaExpectHelpName}, []byte("ftp\x00"), create},
		{"function name ends with NUL", OpCreate, nil, []uint16{ctaExpectFn}, []byte("nat-follow-master\x00"), create},
		{"NAT direction", OpCreate, nil, []uint16{ctaExpectNAT, ctaExpectNATDir}, be32(1), create},
		{"NAT port", OpCreate, nil, []uint16{ctaExpectNAT, ctaExpectNATTuple, ctaTupleProto, ctaProtoSrcPort}, []byte{0xc3, 0x51}, create},
		{"NAT address of the master's family", OpCreate, nil, []uint16{ctaExpectNAT, ctaExpectNATTuple, ctaTupleIP, ctaIPv4Src}, []byte{0, 0, 0, 0}, create},
		{"no NAT", OpCreate, func(e *Expect) { e.NAT = ExpectNAT{} }, []uint16{ctaExpectNAT}, nil, create},
		{"zone", OpCreate, nil, []uint16{ctaExpectZone}, []byte{0, 9}, create},
		{"timeout", OpUpdate, nil, []uint16{ctaExpectTimeout}, be32(200), 0},
		{"flags", OpCreate, nil, []uint16{ctaExpectFlags}, be32(1), create},
		{"class", OpCreate, nil, []uint16{ctaExpectClass}, be32(2), create},
		{"zero flags are not sent", OpCreate, func(e *Expect) { e.Flags = 0 }, []uint16{ctaExpectFlags}, nil, create},
		{"delete sends the tuple", OpDelete, nil, []uint16{ctaExpectTuple, ctaTupleProto, ctaProtoDstPort}, []byte{0xc3, 0x50}, 0},
		{"delete sends the zone", OpDelete, nil, []uint16{ctaExpectZone}, []byte{0, 9}, 0},
		{"delete sends no master", OpDelete, nil, []uint16{ctaExpectMaster}, nil, 0},
		{"delete sends no helper", OpDelete, nil, []uint16{ctaExpectHelpName}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := natExpect()
			if tc.edit != nil {
				tc.edit(e)
			}
			data, h, err := AppendExpectRequest(nil, tc.op, e)
			if err != nil {
				t.Fatal(err)
			}
			if want := netlink.Request | netlink.Acknowledge | tc.flags; h.Flags != want {
				t.Errorf("flags %v, want %v", h.Flags, want)
			}
			msg := msgNew
			if tc.op == OpDelete {
				msg = msgDelete
			}
			if want := netlink.HeaderType(subsysCTExp<<8 | msg); h.Type != want {
				t.Errorf("type %#x, want %#x", h.Type, want)
			}
			checkAttr(t, data, tc.path, tc.want)
		})
	}
}

func TestEncodeExpectRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   Op
		edit func(*Expect)
		want string
	}{
		{"no tuple", OpDelete, func(e *Expect) { e.Tuple = Tuple{} }, "expected tuple"},
		{"no master", OpCreate, func(e *Expect) { e.Master = Tuple{} }, "master tuple"},
		{"no mask", OpUpdate, func(e *Expect) { e.Mask = Tuple{} }, "mask tuple"},
		{"master of another family", OpCreate, func(e *Expect) {
			e.Master.Src, e.Master.Dst = addr("2001:db8::1"), addr("2001:db8::2")
		}, "family"},
		{"NAT of another family", OpCreate, func(e *Expect) { e.NAT.Tuple.Src, e.NAT.Tuple.Dst = addr("::"), addr("::") }, "NAT tuple"},
		{"NAT without destination", OpCreate, func(e *Expect) { e.NAT.Tuple.Dst = netip.Addr{} }, "NAT tuple"},
		{"helper name too long", OpCreate, func(e *Expect) { e.Helper = "a-helper-name-too-long" }, "helper name"},
		{"helper name with NUL", OpCreate, func(e *Expect) { e.Helper = "ftp\x00" }, "helper name"},
		{"function name too long", OpCreate, func(e *Expect) { e.Function = strings.Repeat("f", 32) }, "function name"},
		{"function name with NUL", OpCreate, func(e *Expect) { e.Function = "nat\x00" }, "function name"},
		{"unknown op", Op(9), nil, "unknown operation"},
	} {
		e := natExpect()
		if tc.edit != nil {
			tc.edit(e)
		}
		b, _, err := AppendExpectRequest([]byte("keep"), tc.op, e)
		if err == nil || !strings.Contains(err.Error(), tc.want) || string(b) != "keep" {
			t.Errorf("%s: got %q, %v; want an error about %q and dst untouched", tc.name, b, err, tc.want)
		}
	}
	if _, _, err := AppendExpectRequest(nil, OpCreate, &Expect{}); !errors.Is(err, errNoTuple) {
		t.Errorf("empty expectation: %v, want errNoTuple", err)
	}
}

// What ti-mo decodes from the encoder's bytes is the expectation that
// was encoded, in both families.
func TestEncodeExpectRoundTrip(t *testing.T) {
	v6 := natExpect()
	v6.Master.Src, v6.Master.Dst = addr("2001:db8::1"), addr("2001:db8::2")
	v6.Tuple.Src, v6.Tuple.Dst = v6.Master.Dst, v6.Master.Src
	all := addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	v6.Mask.Src, v6.Mask.Dst = all, all
	v6.NAT.Tuple.Src, v6.NAT.Tuple.Dst, v6.NAT.Dir = addr("2001:db8::9"), addr("::"), 0
	for _, e := range []*Expect{natExpect(), ftpExpect(), v6} {
		data, h, err := AppendExpectRequest(nil, OpCreate, e)
		if err != nil {
			t.Fatal(err)
		}
		ev := decodeRequest(t, h, data)
		if ev.Type != EventExpNew || ev.Expect == nil || ev.PortID != 42 {
			t.Fatalf("event %s %+v from %d, want a new expectation from 42", ev.Type, ev.Expect, ev.PortID)
		}
		if diff := cmp.Diff(*e, *ev.Expect, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("round trip (-sent +decoded):\n%s", diff)
		}
	}
}

// A pipelined writer's buffer is reused: encoding into a buffer with room
// does not allocate.
func BenchmarkAppendExpectRequest(b *testing.B) {
	e := natExpect()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = AppendExpectRequest(buf[:0], OpCreate, e); err != nil {
			b.Fatal(err)
		}
	}
}
