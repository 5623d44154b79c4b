package ctnl

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
)

// The flow decoder of the event path. ti-mo's decoder allocates about 26
// times per event (a netlink.AttributeDecoder per nested attribute, a copy
// of every attribute's payload, closures), which at tens of thousands of
// events a second is most of the sender's garbage. This one reads the
// attributes in place and allocates nothing, except a copy of the labels
// and a helper name that differs from the previous event's.
//
// It decodes flow messages only, and only those it judges exactly as
// ti-mo's decoder does: anything it does not handle (an expectation, a
// zero-length or truncated attribute, a second CTA_PROTOINFO, ...) makes
// it give up, and decodeEvent hands the message to ti-mo's decoder, so
// that both paths accept the same messages and decode them alike
// (FuzzCtnlDecodeFast checks it on arbitrary bytes).

// The attributes only the decoder reads (nfnetlink_conntrack.h); the
// others are encode.go's.
const (
	ctaCountersOrig  = 9
	ctaCountersReply = 10
	ctaUse           = 11
	ctaID            = 12
	ctaSecCtx        = 19
	ctaTimestamp     = 20
	ctaSynProxy      = 24

	ctaHelpInfo         = 2
	ctaDCCPHandshakeSeq = 3
	ctaCountersPackets  = 1
	ctaCountersBytes    = 2
	ctaCountersPad      = 5 // after CTA_COUNTERS32_PACKETS and _BYTES, which are not sent
	ctaTimestampStart   = 1
	ctaTimestampStop    = 2
	ctaSecCtxName       = 1

	// nlaTypeMask keeps an attribute's type without its flags
	// (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
	nlaTypeMask = 0x3fff
)

// attrs walks a stream of netlink attributes in place. It stops with bad
// set at the first attribute ti-mo's decoder would not take as a plain
// one: shorter than its header (a zero length included, which that
// decoder reads as an empty attribute), longer than what is left, or
// trailing bytes too few for a header.
type attrs struct {
	b    []byte
	typ  uint16
	flag uint16
	data []byte
	n    int
	bad  bool
}

func (a *attrs) next() bool {
	if a.bad || len(a.b) == 0 {
		return false
	}
	if len(a.b) < 4 {
		a.bad = true
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < 4 || l > len(a.b) {
		a.bad = true
		return false
	}
	t := binary.NativeEndian.Uint16(a.b[2:])
	a.typ, a.flag = t&nlaTypeMask, t&^nlaTypeMask
	a.data = a.b[4:l]
	a.b = a.b[min((l+3)&^3, len(a.b)):]
	a.n++
	return true
}

// ok reports whether the walk ended cleanly.
func (a *attrs) ok() bool { return !a.bad }

// u8, u16, u32 and u64 read the current attribute as a big-endian integer
// of exactly its size, or set bad.
func (a *attrs) u8() uint8 {
	if len(a.data) != 1 {
		a.bad = true
		return 0
	}
	return a.data[0]
}

func (a *attrs) u16() uint16 {
	if len(a.data) != 2 {
		a.bad = true
		return 0
	}
	return binary.BigEndian.Uint16(a.data)
}

func (a *attrs) u32() uint32 {
	if len(a.data) != 4 {
		a.bad = true
		return 0
	}
	return binary.BigEndian.Uint32(a.data)
}

func (a *attrs) u64() uint64 {
	if len(a.data) != 8 {
		a.bad = true
		return 0
	}
	return binary.BigEndian.Uint64(a.data)
}

// rawTuple is a tuple as the kernel sends it, before the protocol says
// whether the ports or the ICMP fields count.
type rawTuple struct {
	src, dst                  netip.Addr
	proto, icmpType, icmpCode uint8
	sport, dport, icmpID      uint16
}

func (t *rawTuple) tuple() Tuple {
	r := Tuple{Src: t.src, Dst: t.dst, Proto: t.proto}
	if r.isICMP() {
		r.ICMPID, r.ICMPType, r.ICMPCode = t.icmpID, t.icmpType, t.icmpCode
	} else {
		r.SrcPort, r.DstPort = t.sport, t.dport
	}
	return r
}

// decodeTuple reads a CTA_TUPLE_* payload into t. As ti-mo's decoder
// does, a second CTA_TUPLE_IP or CTA_TUPLE_PROTO replaces the first
// whole, and an attribute it does not know is an error.
func decodeTuple(b []byte, t *rawTuple) bool {
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ctaTupleIP:
			var src, dst netip.Addr
			ip := attrs{b: a.data}
			for ip.next() {
				addr, ok := netip.AddrFromSlice(ip.data)
				if !ok {
					return false
				}
				switch ip.typ {
				case ctaIPv4Src, ctaIPv6Src:
					src = addr
				case ctaIPv4Dst, ctaIPv6Dst:
					dst = addr
				default:
					return false
				}
			}
			if !ip.ok() || ip.n != 2 {
				return false
			}
			t.src, t.dst = src, dst
		case ctaTupleProto:
			var p rawTuple
			pa := attrs{b: a.data}
			for pa.next() {
				switch pa.typ {
				case ctaProtoNum:
					p.proto = pa.u8()
				case ctaProtoSrcPort:
					p.sport = pa.u16()
				case ctaProtoDstPort:
					p.dport = pa.u16()
				case ctaProtoICMPID, ctaProtoICMPv6ID:
					p.icmpID = pa.u16()
				case ctaProtoICMPType, ctaProtoICMPv6Type:
					p.icmpType = pa.u8()
				case ctaProtoICMPCode, ctaProtoICMPv6Code:
					p.icmpCode = pa.u8()
				default:
					return false
				}
			}
			if !pa.ok() || pa.n == 0 {
				return false
			}
			t.proto, t.sport, t.dport, t.icmpID, t.icmpType, t.icmpCode = p.proto, p.sport, p.dport, p.icmpID, p.icmpType, p.icmpCode
		case ctaZone: // CTA_TUPLE_ZONE, which Flow does not keep
			a.u16()
		default:
			return false
		}
	}
	return a.ok() && a.n >= 2
}

// rawFlow is what a flow message says, field by field as ti-mo's
// conntrack.Flow keeps it, so that repeated attributes end the same.
type rawFlow struct {
	orig, reply, master rawTuple
	protoInfo           uint16 // CTA_PROTOINFO_TCP, _DCCP, _SCTP; 0 absent
	tcp                 TCPInfo
	sctp                SCTPInfo
	dccp                DCCPInfo
	helper              []byte
	labels, labelsMask  []byte
	counters            [2]Counters
	replyCounters       bool
	seqAdj              [2]SeqAdj
	start, stop         time.Time
}

// decodeFlowFast fills ev from m and reports true, or reports false,
// leaving ev in any state, for a message it leaves to ti-mo's decoder.
// The helper name ev held before, when equal, is kept rather than
// allocated again: a reused Event sees the same few names over and over.
func decodeFlowFast(m netlink.Message, ev *Event) bool {
	typ := uint16(m.Header.Type)
	if typ>>8 != subsysCT || len(m.Data) < 4 {
		return false
	}
	prevHelper := ev.Flow.Helper
	*ev = Event{PortID: m.Header.PID}
	switch typ & 0xff {
	case msgNew:
		ev.Type = EventUpdate
		if m.Header.Flags&(netlink.Create|netlink.Excl) != 0 {
			ev.Type = EventNew
		}
	case msgDelete:
		ev.Type = EventDestroy
	default:
		return false
	}
	var r rawFlow
	f := &ev.Flow
	a := attrs{b: m.Data[4:]}
	for a.next() {
		switch a.typ {
		case ctaTupleOrig, ctaTupleReply, ctaTupleMaster, ctaProtoInfo, ctaHelp, ctaCountersOrig, ctaCountersReply,
			ctaSecCtx, ctaTimestamp, ctaSeqAdjOrig, ctaSeqAdjReply, ctaSynProxy:
			// ti-mo's decoder refuses these without NLA_F_NESTED.
			if a.flag&nlaNested == 0 || !r.nested(a.typ, a.data) {
				return false
			}
		case ctaTimeout:
			f.Timeout = a.u32()
		case ctaID:
			f.ID = a.u32()
		case ctaUse:
			a.u32()
		case ctaMark:
			f.Mark = a.u32()
		case ctaZone:
			f.Zone = a.u16()
		case ctaLabels:
			r.labels = a.data
		case ctaLabelsMask:
			r.labelsMask = a.data
		case ctaStatus:
			f.Status = a.u32()
		}
	}
	if !a.ok() {
		return false
	}
	r.flow(f, prevHelper)
	return true
}

// nested decodes one nested attribute of a flow.
func (r *rawFlow) nested(typ uint16, b []byte) bool {
	a := attrs{b: b}
	switch typ {
	case ctaTupleOrig:
		return decodeTuple(b, &r.orig)
	case ctaTupleReply:
		return decodeTuple(b, &r.reply)
	case ctaTupleMaster:
		return decodeTuple(b, &r.master)
	case ctaProtoInfo:
		// One protocol, once: ti-mo's decoder refuses a second.
		if r.protoInfo != 0 || !a.next() || len(a.b) != 0 {
			return false
		}
		r.protoInfo = a.typ
		return r.protoState(a.typ, a.data)
	case ctaHelp:
		for a.next() {
			switch a.typ {
			case ctaHelpName:
				r.helper = bytes.TrimRight(a.data, "\x00")
			case ctaHelpInfo:
			default:
				return false
			}
		}
	case ctaCountersOrig, ctaCountersReply:
		c := &r.counters[0]
		if typ == ctaCountersReply {
			c, r.replyCounters = &r.counters[1], true
		}
		for a.next() {
			switch a.typ {
			case ctaCountersPackets:
				c.Packets = a.u64()
			case ctaCountersBytes:
				c.Bytes = a.u64()
			case ctaCountersPad:
			default:
				return false
			}
		}
		return a.ok() && a.n >= 2
	case ctaTimestamp:
		for a.next() {
			switch a.typ {
			case ctaTimestampStart:
				r.start = time.Unix(0, int64(a.u64()))
			case ctaTimestampStop:
				r.stop = time.Unix(0, int64(a.u64()))
			default:
				return false
			}
		}
	case ctaSeqAdjOrig, ctaSeqAdjReply:
		s := &r.seqAdj[0]
		if typ == ctaSeqAdjReply {
			s = &r.seqAdj[1]
		}
		for a.next() {
			switch a.typ {
			case ctaSeqAdjPos:
				s.Pos = a.u32()
			case ctaSeqAdjBefore:
				s.OffsetBefore = a.u32()
			case ctaSeqAdjAfter:
				s.OffsetAfter = a.u32()
			default:
				return false
			}
		}
	case ctaSecCtx:
		for a.next() {
			if a.typ != ctaSecCtxName {
				return false
			}
		}
	case ctaSynProxy: // CTA_SYNPROXY_ISN, _ITS, _TSOFF
		for a.next() {
			if a.typ < 1 || a.typ > 3 {
				return false
			}
			a.u32()
		}
	}
	if !a.ok() {
		return false
	}
	// Every nested attribute but CTA_HELP needs a child.
	return typ == ctaHelp || a.n > 0
}

// protoState decodes CTA_PROTOINFO's one child.
func (r *rawFlow) protoState(typ uint16, b []byte) bool {
	a := attrs{b: b}
	switch typ {
	case ctaProtoInfoTCP:
		t := &r.tcp
		for a.next() {
			switch a.typ {
			case ctaTCPState:
				t.State = a.u8()
			case ctaTCPWScaleOrig:
				t.WScaleOrig = a.u8()
			case ctaTCPWScaleReply:
				t.WScaleReply = a.u8()
			case ctaTCPFlagsOrig, ctaTCPFlagsReply:
				// struct nf_ct_tcp_flags: flags, then mask.
				v := a.u16()
				fl := TCPFlags{Flags: uint8(v >> 8), Mask: uint8(v)}
				if a.typ == ctaTCPFlagsOrig {
					t.FlagsOrig = fl
				} else {
					t.FlagsReply = fl
				}
			default:
				return false
			}
		}
	case ctaProtoInfoDCCP:
		for a.next() {
			switch a.typ {
			case ctaDCCPState:
				r.dccp.State = a.u8()
			case ctaDCCPRole:
				r.dccp.Role = a.u8()
			case ctaDCCPHandshakeSeq:
				a.u64()
			default:
				return false
			}
		}
	case ctaProtoInfoSCTP:
		for a.next() {
			switch a.typ {
			case ctaSCTPState:
				r.sctp.State = a.u8()
			case ctaSCTPVTagOrig:
				r.sctp.VTagOrig = a.u32()
			case ctaSCTPVTagReply:
				r.sctp.VTagReply = a.u32()
			default:
				return false
			}
		}
	default:
		return false
	}
	return a.ok() && a.n > 0
}

// flow completes f as fromConntrack does from ti-mo's flow.
func (r *rawFlow) flow(f *Flow, prevHelper string) {
	f.Orig, f.Reply = r.orig.tuple(), r.reply.tuple()
	if r.master.src.IsValid() {
		f.Master = r.master.tuple()
	}
	if len(r.helper) > 0 {
		if string(r.helper) == prevHelper {
			f.Helper = prevHelper
		} else {
			f.Helper = string(r.helper)
		}
	}
	if r.labels != nil {
		f.Labels = bytes.Clone(r.labels)
	}
	if r.labelsMask != nil {
		f.LabelsMask = bytes.Clone(r.labelsMask)
	}
	switch r.protoInfo {
	case ctaProtoInfoTCP:
		f.Present |= HasProtoInfo
		f.TCP = r.tcp
	case ctaProtoInfoSCTP:
		f.Present |= HasProtoInfo
		f.SCTP = r.sctp
	case ctaProtoInfoDCCP:
		f.Present |= HasProtoInfo
		f.DCCP = r.dccp
	}
	so, sr := r.seqAdj[0], r.seqAdj[1]
	if so.Pos|so.OffsetBefore|so.OffsetAfter|sr.Pos|sr.OffsetBefore|sr.OffsetAfter != 0 {
		f.Present |= HasSeqAdj
		f.SeqAdjOrig, f.SeqAdjReply = so, sr
	}
	if r.replyCounters {
		f.Present |= HasCounters
		f.Counters = r.counters
	}
	f.Start, f.Stop = r.start, r.stop
	f.DeriveNAT()
}
