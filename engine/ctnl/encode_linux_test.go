package ctnl

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// attr returns the payload of the attribute at path in a request's
// payload (after the nfgenmsg header), and whether it is there.
func attr(t *testing.T, data []byte, path ...uint16) ([]byte, bool) {
	t.Helper()
	b := data[4:]
	for depth, want := range path {
		found := false
		for len(b) >= 4 {
			n := int(binary.NativeEndian.Uint16(b))
			typ := binary.NativeEndian.Uint16(b[2:]) &^ nlaNested
			if n < 4 || n > len(b) {
				t.Fatalf("malformed attribute at depth %d: length %d of %d", depth, n, len(b))
			}
			if typ == want {
				b, found = b[4:n], true
				break
			}
			b = b[min((n+3)&^3, len(b)):]
		}
		if !found {
			return nil, false
		}
	}
	return b, true
}

// checkAttr checks that the attribute at path in a request's payload is
// want, or absent if want is nil.
func checkAttr(t *testing.T, data []byte, path []uint16, want []byte) {
	t.Helper()
	got, ok := attr(t, data, path...)
	switch {
	case want == nil && ok:
		t.Errorf("attribute %v present (%x), want it absent", path, got)
	case want != nil && !ok:
		t.Errorf("attribute %v absent, want %x", path, want)
	case want != nil && !bytes.Equal(got, want):
		t.Errorf("attribute %v = %x, want %x", path, got, want)
	}
}

// decodeRequest decodes a request as the event a listener would get from
// port 42.
func decodeRequest(t *testing.T, h netlink.Header, data []byte) Event {
	t.Helper()
	h.PID = 42
	var ev Event
	if err := decodeEvent(netlink.Message{Header: h, Data: data}, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// The bytes the kernel needs, attribute by attribute: each of these is a
// gap of ti-mo's encoder.
func TestEncodeAttributes(t *testing.T) {
	base := func() *Flow {
		f := udpFlow(1)
		f.Orig.Proto, f.Reply.Proto = protoTCP, protoTCP
		return f
	}
	for _, tc := range []struct {
		name  string
		op    Op
		edit  func(*Flow)
		path  []uint16
		want  []byte // nil: must be absent
		flags netlink.HeaderFlags
	}{
		{"create adds CONFIRMED and clears EXPECTED", OpCreate,
			func(f *Flow) { f.Status = StatusExpected | StatusSeenReply },
			[]uint16{ctaStatus}, be32(StatusSeenReply | StatusConfirmed), netlink.Create | netlink.Excl},
		{"create-or-update has no EXCL", OpCreateOrUpdate, nil,
			[]uint16{ctaStatus}, be32(StatusSeenReply | StatusConfirmed), netlink.Create},
		{"update clears the NAT bits", OpUpdate,
			func(f *Flow) { f.Status |= StatusSrcNAT | StatusDstNAT | StatusSrcNATDone },
			[]uint16{ctaStatus}, be32(StatusSeenReply | StatusConfirmed | StatusSrcNATDone), 0},
		{"update sends a zero mark", OpUpdate, nil, []uint16{ctaMark}, be32(0), 0},
		{"create sends no zero mark", OpCreate, nil, []uint16{ctaMark}, nil, netlink.Create | netlink.Excl},
		{"helper name ends with NUL", OpCreate, func(f *Flow) { f.Helper = "ftp" },
			[]uint16{ctaHelp, ctaHelpName}, []byte("ftp\x00"), netlink.Create | netlink.Excl},
		{"update sends no helper", OpUpdate, func(f *Flow) { f.Helper = "ftp" }, []uint16{ctaHelp}, nil, 0},
		{"zero offset before is sent", OpCreate, func(f *Flow) {
			f.Present |= HasSeqAdj
			f.SeqAdjOrig = SeqAdj{Pos: 5}
		}, []uint16{ctaSeqAdjOrig, ctaSeqAdjBefore}, be32(0), netlink.Create | netlink.Excl},
		{"source NAT minimum address", OpCreate, func(f *Flow) { f.SNAT = nat("198.18.9.9", 0) },
			[]uint16{ctaNATSrc, ctaNATV4MinIP}, []byte{198, 18, 9, 9}, netlink.Create | netlink.Excl},
		{"source NAT maximum defaults to the minimum", OpCreate, func(f *Flow) { f.SNAT = NAT{MinAddr: netip.MustParseAddr("198.18.9.9")} },
			[]uint16{ctaNATSrc, ctaNATV4MaxIP}, []byte{198, 18, 9, 9}, netlink.Create | netlink.Excl},
		{"destination NAT port range", OpCreate, func(f *Flow) { f.DNAT = NAT{MinPort: 80, MaxPort: 90} },
			[]uint16{ctaNATDst, ctaNATProto, ctaProtoNATPortMax}, []byte{0, 90}, netlink.Create | netlink.Excl},
		{"IPv6 NAT", OpCreate, func(f *Flow) {
			f.Orig.Src, f.Orig.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
			f.Reply = f.Orig.Invert()
			f.SNAT = nat("2001:db8::9", 0)
		}, []uint16{ctaNATSrc, ctaNATV6MinIP}, netip.MustParseAddr("2001:db8::9").AsSlice(), netlink.Create | netlink.Excl},
		{"update sends no NAT", OpUpdate, func(f *Flow) { f.SNAT = nat("198.18.9.9", 0) }, []uint16{ctaNATSrc}, nil, 0},
		{"NAT replaces the reply tuple by the inverse", OpCreate, func(f *Flow) {
			f.Reply.Dst = netip.MustParseAddr("198.18.9.9")
			f.SNAT = nat("198.18.9.9", 0)
		}, []uint16{ctaTupleReply, ctaTupleIP, ctaIPv4Dst}, []byte{198, 18, 0, 1}, netlink.Create | netlink.Excl},
		{"update sends no master", OpUpdate, func(f *Flow) { f.Master = udpFlow(3).Orig }, []uint16{ctaTupleMaster}, nil, 0},
		{"delete sends the tuple only", OpDelete, func(f *Flow) { f.Mark = 5 }, []uint16{ctaMark}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			if tc.edit != nil {
				tc.edit(f)
			}
			data, h, err := AppendRequest(nil, tc.op, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := netlink.Request | netlink.Acknowledge | tc.flags; h.Flags != want {
				t.Errorf("flags %v, want %v", h.Flags, want)
			}
			checkAttr(t, data, tc.path, tc.want)
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	noTimeout := udpFlow(1)
	noTimeout.Timeout = 0
	mixed := udpFlow(1)
	mixed.Orig.Dst = netip.MustParseAddr("2001:db8::1")
	badMaster := udpFlow(1)
	badMaster.Master = Tuple{Proto: 6}
	longHelper := udpFlow(1)
	longHelper.Helper = "a-helper-name-too-long"
	nulHelper := udpFlow(1)
	nulHelper.Helper = "ftp\x00"
	bigLabels := udpFlow(1)
	bigLabels.Labels = make([]byte, 70000)
	natFamily := udpFlow(1)
	natFamily.SNAT = nat("2001:db8::1", 0)
	for _, tc := range []struct {
		name string
		op   Op
		f    *Flow
	}{
		{"no tuple", OpDelete, &Flow{}},
		{"families mixed", OpUpdate, mixed},
		{"create without timeout", OpCreate, noTimeout},
		{"master without addresses", OpCreate, badMaster},
		{"unknown op", Op(9), udpFlow(1)},
		{"helper name too long", OpCreate, longHelper},
		{"helper name with NUL", OpCreate, nulHelper},
		{"labels too long", OpUpdate, bigLabels},
		{"NAT of another family", OpCreate, natFamily},
	} {
		if b, _, err := AppendRequest([]byte("keep"), tc.op, tc.f); err == nil || string(b) != "keep" {
			t.Errorf("%s: got %q, %v; want an error and dst untouched", tc.name, b, err)
		}
	}
}

// What ti-mo decodes from the encoder's bytes is the flow that was
// encoded, NAT derived back from the tuples aside.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	f := udpFlow(7)
	f.Orig.Proto, f.Reply.Proto = protoSCTP, protoSCTP
	f.Zone, f.Mark = 3, 9
	f.Status = StatusSeenReply | StatusAssured | StatusConfirmed
	f.Present = HasProtoInfo | HasSeqAdj
	f.SCTP = SCTPInfo{State: 3, VTagOrig: 0x11223344, VTagReply: 0x55667788}
	f.SeqAdjOrig, f.SeqAdjReply = SeqAdj{Pos: 1, OffsetAfter: 2}, SeqAdj{Pos: 3, OffsetBefore: 4, OffsetAfter: 5}
	f.Labels = bytes.Repeat([]byte{1}, 16)
	f.Helper = "sip"
	data, h, err := AppendRequest(nil, OpCreate, f)
	if err != nil {
		t.Fatal(err)
	}
	ev := decodeRequest(t, h, data)
	if ev.Type != EventNew || ev.PortID != 42 {
		t.Errorf("event %s from %d, want new from 42", ev.Type, ev.PortID)
	}
	if diff := cmp.Diff(*f, ev.Flow, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-sent +decoded):\n%s", diff)
	}
}

func TestDeriveNAT(t *testing.T) {
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	f.Reply = Tuple{Src: addr("198.18.3.3"), Dst: addr("198.18.2.1"), Proto: protoTCP, SrcPort: 8080, DstPort: 40000}
	f.DeriveNAT()
	if !f.SNAT.IsZero() || !f.DNAT.IsZero() {
		t.Errorf("without NAT status bits: %+v %+v, want none", f.SNAT, f.DNAT)
	}
	f.Status |= StatusSrcNAT | StatusDstNAT
	f.DeriveNAT()
	if want := nat("198.18.2.1", 0); f.SNAT != want {
		t.Errorf("SNAT %+v, want %+v (same port: not translated)", f.SNAT, want)
	}
	if want := nat("198.18.3.3", 8080); f.DNAT != want {
		t.Errorf("DNAT %+v, want %+v", f.DNAT, want)
	}
}
