package ctnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
)

// Op is what a request does to the table.
type Op uint8

const (
	// OpCreate adds a flow and fails with EEXIST if it is there.
	OpCreate Op = iota + 1
	// OpUpdate changes a flow and fails with ENOENT if it is absent. It
	// keeps the EXPECTED status bit as given, as conntrackd does, so it
	// fails with EBUSY when that bit differs from the flow's (a related
	// flow created before its master was known).
	OpUpdate
	// OpCreateOrUpdate is OpCreate without NLM_F_EXCL: an existing flow
	// is updated instead. The kernel refuses (EOPNOTSUPP) to change the
	// NAT or master of an existing flow, so for a flow with NAT the
	// engine falls back to OpUpdate on that error.
	OpCreateOrUpdate
	// OpDelete removes a flow, found by its original tuple and zone.
	OpDelete
)

func (op Op) String() string {
	switch op {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpCreateOrUpdate:
		return "create-or-update"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// Address families as ctnetlink numbers them: Linux's values, whatever
// the build's operating system.
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

// nfnetlink subsystems and ctnetlink message types
// (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h).
const (
	subsysCT    = 1
	subsysCTExp = 2

	msgNew         = 0
	msgGet         = 1
	msgDelete      = 2
	msgGetStats    = 5
	nfnlMsgVersion = 0
)

// enum ctattr_type and its nested enums (nfnetlink_conntrack.h).
const (
	ctaTupleOrig   = 1
	ctaTupleReply  = 2
	ctaStatus      = 3
	ctaProtoInfo   = 4
	ctaHelp        = 5
	ctaNATSrc      = 6
	ctaTimeout     = 7
	ctaMark        = 8
	ctaNATDst      = 13
	ctaTupleMaster = 14
	ctaSeqAdjOrig  = 15
	ctaSeqAdjReply = 16
	ctaZone        = 18
	ctaMarkMask    = 21
	ctaLabels      = 22
	ctaLabelsMask  = 23

	ctaTupleIP    = 1
	ctaTupleProto = 2

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum        = 1
	ctaProtoSrcPort    = 2
	ctaProtoDstPort    = 3
	ctaProtoICMPID     = 4
	ctaProtoICMPType   = 5
	ctaProtoICMPCode   = 6
	ctaProtoICMPv6ID   = 7
	ctaProtoICMPv6Type = 8
	ctaProtoICMPv6Code = 9

	ctaProtoInfoTCP  = 1
	ctaProtoInfoDCCP = 2
	ctaProtoInfoSCTP = 3

	ctaTCPState       = 1
	ctaTCPWScaleOrig  = 2
	ctaTCPWScaleReply = 3
	ctaTCPFlagsOrig   = 4
	ctaTCPFlagsReply  = 5

	ctaDCCPState = 1
	ctaDCCPRole  = 2

	ctaSCTPState     = 1
	ctaSCTPVTagOrig  = 2
	ctaSCTPVTagReply = 3

	ctaHelpName = 1

	ctaNATV4MinIP = 1
	ctaNATV4MaxIP = 2
	ctaNATProto   = 3
	ctaNATV6MinIP = 4
	ctaNATV6MaxIP = 5

	ctaProtoNATPortMin = 1
	ctaProtoNATPortMax = 2

	ctaSeqAdjPos    = 1
	ctaSeqAdjBefore = 2
	ctaSeqAdjAfter  = 3

	nlaNested = 0x8000
)

var (
	errNoTuple   = errors.New("original tuple needs two addresses of one family")
	errNoTimeout = errors.New("create needs a non-zero timeout")
)

// Sizes the kernel accepts: NF_CT_HELPER_NAME_LEN (with its NUL) and
// NF_CT_LABELS_MAX_SIZE. Checking them here also keeps every attribute
// within netlink's 16-bit length.
const (
	maxHelperName = 15
	maxLabels     = 16
)

// AppendRequest appends to dst the payload of the ctnetlink request that
// applies op to f (nfgenmsg header and attributes), and returns it with the
// netlink header to send it under (length, sequence and port id left zero).
// It does not allocate when dst has room.
//
// What it sends follows conntrackd's src/netlink.c and the kernel's
// ctnetlink_new_conntrack:
//   - create: the status gains CONFIRMED (without it the kernel answers
//     EBUSY) and loses EXPECTED (the kernel refuses to change it); the reply
//     tuple is the inverse of the original when NAT is set up, so that the
//     kernel's NAT set-up translates it and sets the NAT status bits; NAT,
//     helper and master are sent.
//   - update: the status loses the NAT bits and gains CONFIRMED; the mark
//     is always sent, so that a mark reset to zero on the peer is reset
//     here; NAT, helper and master are not sent (the kernel refuses to
//     change them).
//   - delete: original tuple and zone only.
func AppendRequest(dst []byte, op Op, f *Flow) ([]byte, netlink.Header, error) {
	if !f.Orig.IsValid() {
		return dst, netlink.Header{}, fmt.Errorf("%s: %w", op, errNoTuple)
	}
	e, h, err := startRequest(dst, op, subsysCT, ctaTupleOrig, ctaZone, f.Orig, f.Zone)
	if err != nil || op == OpDelete {
		return e.b, h, err
	}
	create := op != OpUpdate
	if create && f.Timeout == 0 {
		return dst, h, fmt.Errorf("%s: %w", op, errNoTimeout)
	}
	nat := !f.SNAT.IsZero() || !f.DNAT.IsZero()
	if create && f.Master.Proto != 0 && !f.Master.IsValid() {
		return dst, h, fmt.Errorf("%s: master tuple: %w", op, errNoTuple)
	}
	if len(f.Helper) > maxHelperName || strings.IndexByte(f.Helper, 0) >= 0 {
		return dst, h, fmt.Errorf("%s: helper name %q: longer than %d bytes or with a NUL", op, f.Helper, maxHelperName)
	}
	if len(f.Labels) > maxLabels || len(f.LabelsMask) > maxLabels {
		return dst, h, fmt.Errorf("%s: labels of %d bytes and mask of %d, more than %d", op, len(f.Labels), len(f.LabelsMask), maxLabels)
	}
	for _, n := range []NAT{f.SNAT, f.DNAT} {
		if n.MinAddr.IsValid() && (n.MinAddr.Is4() != f.Orig.Src.Is4() || n.MaxAddr.IsValid() && n.MaxAddr.Is4() != n.MinAddr.Is4()) {
			return dst, h, fmt.Errorf("%s: NAT range %s-%s is not of the flow's family", op, n.MinAddr, n.MaxAddr)
		}
	}

	e.tuple(ctaTupleOrig, f.Orig)
	if create {
		reply := f.Reply
		if nat || !reply.IsValid() {
			reply = f.Orig.Invert()
		}
		e.tuple(ctaTupleReply, reply)
	}
	if f.Zone != 0 {
		e.u16(ctaZone, f.Zone)
	}
	if f.Status != 0 {
		st := f.Status | StatusConfirmed
		if create {
			st &^= StatusExpected
		} else {
			st &^= StatusNATMask
		}
		e.u32(ctaStatus, st)
	}
	if f.Timeout != 0 {
		e.u32(ctaTimeout, f.Timeout)
	}
	if f.Mark != 0 || !create {
		e.u32(ctaMark, f.Mark)
	}
	if f.Present&HasProtoInfo != 0 {
		e.protoInfo(f)
	}
	if create {
		if f.Helper != "" {
			help := e.begin(ctaHelp)
			e.cstring(ctaHelpName, f.Helper)
			e.end(help)
		}
		if f.Master.IsValid() {
			e.tuple(ctaTupleMaster, f.Master)
		}
		if !f.SNAT.IsZero() {
			e.nat(ctaNATSrc, f.SNAT)
		}
		if !f.DNAT.IsZero() {
			e.nat(ctaNATDst, f.DNAT)
		}
	}
	if f.Present&HasSeqAdj != 0 {
		e.seqAdj(ctaSeqAdjOrig, f.SeqAdjOrig)
		e.seqAdj(ctaSeqAdjReply, f.SeqAdjReply)
	}
	if len(f.Labels) > 0 {
		e.bytes(ctaLabels, f.Labels)
		if len(f.LabelsMask) > 0 {
			e.bytes(ctaLabelsMask, f.LabelsMask)
		}
	}
	return e.b, h, nil
}

// encoder appends netlink attributes; multi-byte values in network order,
// as ctnetlink wants them.
type encoder struct{ b []byte }

// startRequest starts the request that applies op to the object of
// ctnetlink subsystem subsys keyed by tuple key (valid) in zone: it returns
// the encoder holding dst and the nfgenmsg header, and the netlink header to
// send the request under, with the flags conntrackd sends. A delete carries
// only the key, as attribute keyAttr, and a non-zero zone, as zoneAttr: for
// it the request is complete. On an error the encoder holds dst unchanged.
func startRequest(dst []byte, op Op, subsys, keyAttr, zoneAttr uint16, key Tuple, zone uint16) (encoder, netlink.Header, error) {
	h := netlink.Header{
		Type:  netlink.HeaderType(subsys<<8 | msgNew),
		Flags: netlink.Request | netlink.Acknowledge,
	}
	switch op {
	case OpCreate:
		h.Flags |= netlink.Create | netlink.Excl
	case OpCreateOrUpdate:
		h.Flags |= netlink.Create
	case OpUpdate:
	case OpDelete:
		h.Type = netlink.HeaderType(subsys<<8 | msgDelete)
	default:
		return encoder{b: dst}, h, fmt.Errorf("unknown operation %d", op)
	}
	family := uint8(afInet)
	if key.Src.Is6() {
		family = afInet6
	}
	e := encoder{b: append(dst, family, nfnlMsgVersion, 0, 0)}
	if op == OpDelete {
		e.tuple(keyAttr, key)
		if zone != 0 {
			e.u16(zoneAttr, zone)
		}
	}
	return e, h, nil
}

func (e *encoder) header(typ uint16, n int) {
	e.b = binary.NativeEndian.AppendUint16(e.b, uint16(4+n))
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
}

func (e *encoder) pad() {
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u8(typ uint16, v uint8) {
	e.header(typ, 1)
	e.b = append(e.b, v)
	e.pad()
}

func (e *encoder) u16(typ uint16, v uint16) {
	e.header(typ, 2)
	e.b = binary.BigEndian.AppendUint16(e.b, v)
	e.pad()
}

func (e *encoder) u32(typ uint16, v uint32) {
	e.header(typ, 4)
	e.b = binary.BigEndian.AppendUint32(e.b, v)
}

func (e *encoder) bytes(typ uint16, v []byte) {
	e.header(typ, len(v))
	e.b = append(e.b, v...)
	e.pad()
}

// cstring appends s with the NUL the kernel's NLA_NUL_STRING policy needs
// (CTA_HELP_NAME): without it the kernel answers EINVAL.
func (e *encoder) cstring(typ uint16, s string) {
	e.header(typ, len(s)+1)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	e.pad()
}

// begin opens a nested attribute; end closes it.
func (e *encoder) begin(typ uint16) int {
	off := len(e.b)
	e.header(typ|nlaNested, 0)
	return off
}

func (e *encoder) end(off int) {
	binary.NativeEndian.PutUint16(e.b[off:], uint16(len(e.b)-off))
}

func (e *encoder) addr(typ uint16, a [16]byte, is4 bool) {
	if is4 {
		e.bytes(typ, a[12:])
		return
	}
	e.bytes(typ, a[:])
}

func (e *encoder) tuple(typ uint16, t Tuple) {
	outer := e.begin(typ)
	ip := e.begin(ctaTupleIP)
	if t.Src.Is4() {
		e.addr(ctaIPv4Src, t.Src.As16(), true)
		e.addr(ctaIPv4Dst, t.Dst.As16(), true)
	} else {
		e.addr(ctaIPv6Src, t.Src.As16(), false)
		e.addr(ctaIPv6Dst, t.Dst.As16(), false)
	}
	e.end(ip)
	proto := e.begin(ctaTupleProto)
	e.u8(ctaProtoNum, t.Proto)
	switch t.Proto {
	case protoICMP:
		e.u16(ctaProtoICMPID, t.ICMPID)
		e.u8(ctaProtoICMPType, t.ICMPType)
		e.u8(ctaProtoICMPCode, t.ICMPCode)
	case protoICMPv6:
		e.u16(ctaProtoICMPv6ID, t.ICMPID)
		e.u8(ctaProtoICMPv6Type, t.ICMPType)
		e.u8(ctaProtoICMPv6Code, t.ICMPCode)
	default:
		e.u16(ctaProtoSrcPort, t.SrcPort)
		e.u16(ctaProtoDstPort, t.DstPort)
	}
	e.end(proto)
	e.end(outer)
}

func (e *encoder) protoInfo(f *Flow) {
	var inner uint16
	switch f.Orig.Proto {
	case protoTCP:
		inner = ctaProtoInfoTCP
	case protoSCTP:
		inner = ctaProtoInfoSCTP
	case protoDCCP:
		inner = ctaProtoInfoDCCP
	default:
		return
	}
	outer := e.begin(ctaProtoInfo)
	in := e.begin(inner)
	switch inner {
	case ctaProtoInfoTCP:
		e.u8(ctaTCPState, f.TCP.State)
		e.u8(ctaTCPWScaleOrig, f.TCP.WScaleOrig)
		e.u8(ctaTCPWScaleReply, f.TCP.WScaleReply)
		e.header(ctaTCPFlagsOrig, 2)
		e.b = append(e.b, f.TCP.FlagsOrig.Flags, f.TCP.FlagsOrig.Mask)
		e.pad()
		e.header(ctaTCPFlagsReply, 2)
		e.b = append(e.b, f.TCP.FlagsReply.Flags, f.TCP.FlagsReply.Mask)
		e.pad()
	case ctaProtoInfoSCTP:
		e.u8(ctaSCTPState, f.SCTP.State)
		e.u32(ctaSCTPVTagOrig, f.SCTP.VTagOrig)
		e.u32(ctaSCTPVTagReply, f.SCTP.VTagReply)
	case ctaProtoInfoDCCP:
		e.u8(ctaDCCPState, f.DCCP.State)
		e.u8(ctaDCCPRole, f.DCCP.Role)
	}
	e.end(in)
	e.end(outer)
}

// nat appends a CTA_NAT_SRC or CTA_NAT_DST range; the kernel's
// nfnetlink_parse_nat_setup turns it into a NAT binding, which rewrites the
// reply tuple and sets the NAT status bits.
func (e *encoder) nat(typ uint16, n NAT) {
	outer := e.begin(typ)
	if n.MinAddr.IsValid() {
		max := n.MaxAddr
		if !max.IsValid() {
			max = n.MinAddr
		}
		if n.MinAddr.Is4() {
			e.addr(ctaNATV4MinIP, n.MinAddr.As16(), true)
			e.addr(ctaNATV4MaxIP, max.As16(), true)
		} else {
			e.addr(ctaNATV6MinIP, n.MinAddr.As16(), false)
			e.addr(ctaNATV6MaxIP, max.As16(), false)
		}
	}
	if n.MinPort != 0 {
		max := n.MaxPort
		if max == 0 {
			max = n.MinPort
		}
		p := e.begin(ctaNATProto)
		e.u16(ctaProtoNATPortMin, n.MinPort)
		e.u16(ctaProtoNATPortMax, max)
		e.end(p)
	}
	e.end(outer)
}

// seqAdj appends all three fields, zeros included: a first adjustment has
// OffsetBefore 0, and a decoder that treats zero as absent loses it.
func (e *encoder) seqAdj(typ uint16, s SeqAdj) {
	outer := e.begin(typ)
	e.u32(ctaSeqAdjPos, s.Pos)
	e.u32(ctaSeqAdjBefore, s.OffsetBefore)
	e.u32(ctaSeqAdjAfter, s.OffsetAfter)
	e.end(outer)
}
