package ctnl

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Whatever a netlink socket delivers, splitting and decoding it returns
// an error or an event, never a panic.
func FuzzCtnlDecode(f *testing.F) {
	ev := datagram(eventMsg(&testing.T{}, OpCreate, func() *Flow {
		fl := tcpFlow("198.18.0.1", "198.18.1.1", 1, 21)
		fl.Helper, fl.Mark, fl.Present = "ftp", 1, fl.Present|HasSeqAdj
		fl.SNAT, fl.DNAT = nat("198.18.2.2", 3), nat("198.18.3.3", 4)
		return fl
	}(), 7))
	f.Add(ev)
	f.Add(datagram(eventMsg(&testing.T{}, OpUpdate, udpFlow(3), 0), done(1)))
	f.Add(datagram(ack(eventMsg(&testing.T{}, OpDelete, udpFlow(3), 0), unix.EEXIST)))
	f.Add(ev[:len(ev)-5])
	if data, h, err := AppendExpectRequest(nil, OpCreate, natExpect()); err == nil {
		h.Length = uint32(16 + len(data))
		m, _ := (netlink.Message{Header: h, Data: data}).MarshalBinary()
		f.Add(m)
	}
	f.Add([]byte{16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = eachMessage(b, func(m netlink.Message) error {
			var ev Event
			_ = decodeEvent(m, &ev)
			_ = ackError(m)
			_, _ = ackedSeq(m)
			return nil
		})
	})
}

// Whatever the flow, the encoder returns an error or a request whose
// original tuple decodes back as it was.
func FuzzCtnlEncode(f *testing.F) {
	f.Add([]byte{198, 18, 0, 1}, []byte{198, 18, 1, 1}, uint8(6), uint16(1), uint16(2), uint32(StatusAssured), "ftp", uint16(50000), uint8(1))
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::2").AsSlice(), uint8(58), uint16(1), uint16(2), uint32(0), "", uint16(0), uint8(2))
	f.Add([]byte{198, 18, 0, 1}, []byte{}, uint8(17), uint16(1), uint16(2), uint32(0), "x", uint16(0), uint8(4))
	f.Fuzz(func(t *testing.T, src, dst []byte, proto uint8, sport, dport uint16, status uint32, helper string, natPort uint16, op uint8) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		fl := &Flow{
			Orig:    Tuple{Src: s, Dst: d, Proto: proto, SrcPort: sport, DstPort: dport, ICMPID: sport, ICMPType: uint8(dport)},
			Status:  status,
			Timeout: 10,
			Helper:  helper,
			Present: HasProtoInfo | HasSeqAdj,
		}
		fl.SNAT = NAT{MinAddr: d, MinPort: natPort}
		data, h, err := AppendRequest(nil, Op(op), fl)
		if err != nil {
			return
		}
		if Op(op) == OpDelete {
			return
		}
		var ev Event
		if err := decodeEvent(netlink.Message{Header: h, Data: data}, &ev); err != nil {
			// ti-mo refuses protocol 0, which no flow has.
			if proto != 0 {
				t.Fatalf("encoded %s %+v does not decode: %v", Op(op), fl.Orig, err)
			}
			return
		}
		want := fl.Orig
		if want.isICMP() {
			want.SrcPort, want.DstPort = 0, 0
		} else {
			want.ICMPID, want.ICMPType = 0, 0
		}
		if ev.Flow.Orig != want {
			t.Fatalf("original tuple %+v decodes as %+v", want, ev.Flow.Orig)
		}
	})
}

// Whatever the expectation, the encoder returns an error or a request
// that decodes back as the expectation it was given.
func FuzzCtnlEncodeExpect(f *testing.F) {
	f.Add([]byte{198, 18, 0, 1}, []byte{198, 18, 1, 1}, uint8(6), uint16(40000), uint16(50000), "ftp", "nat-follow-master", []byte{0, 0, 0, 0}, uint16(50001), uint32(1), uint8(1))
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::2").AsSlice(), uint8(17), uint16(1), uint16(2), "", "", []byte{}, uint16(0), uint32(0), uint8(3))
	f.Add([]byte{198, 18, 0, 1}, []byte{198, 18, 1, 1}, uint8(1), uint16(1), uint16(2), "sip", "sip", []byte{198, 18, 9, 9}, uint16(5060), uint32(0), uint8(4))
	f.Fuzz(func(t *testing.T, src, dst []byte, proto uint8, sport, dport uint16, helper, fn string, natAddr []byte, natPort uint16, dir uint32, op uint8) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		n, _ := netip.AddrFromSlice(natAddr)
		tuple := Tuple{Src: s, Dst: d, Proto: proto, SrcPort: sport, DstPort: dport}
		if tuple.isICMP() {
			tuple = Tuple{Src: s, Dst: d, Proto: proto, ICMPID: sport, ICMPType: uint8(dport)}
		}
		e := &Expect{
			Master: tuple, Tuple: tuple.Invert(), Mask: tuple,
			Helper: helper, Function: fn, Timeout: 10,
		}
		if n.IsValid() {
			e.NAT = ExpectNAT{Dir: dir & 1, Tuple: Tuple{Src: n, Dst: n, Proto: proto, SrcPort: natPort}}
			if e.NAT.Tuple.isICMP() {
				e.NAT.Tuple = Tuple{Src: n, Dst: n, Proto: proto, ICMPID: natPort}
			}
		}
		data, h, err := AppendExpectRequest(nil, Op(op), e)
		if err != nil || Op(op) == OpDelete {
			return
		}
		var ev Event
		if err := decodeEvent(netlink.Message{Header: h, Data: data}, &ev); err != nil {
			// ti-mo refuses protocol 0, which no expectation has.
			if proto != 0 {
				t.Fatalf("encoded %s %+v does not decode: %v", Op(op), e, err)
			}
			return
		}
		if ev.Expect == nil || ev.Expect.Master != e.Master || ev.Expect.Tuple != e.Tuple || ev.Expect.NAT != e.NAT ||
			ev.Expect.Helper != e.Helper || ev.Expect.Function != e.Function {
			t.Fatalf("expectation %+v decodes as %+v", e, ev.Expect)
		}
	})
}
