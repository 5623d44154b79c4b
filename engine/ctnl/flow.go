package ctnl

import (
	"fmt"
	"net/netip"
	"time"
)

// Tuple is one direction of a flow: addresses, layer 4 protocol and ports
// (or, for ICMP and ICMPv6, identifier, type and code).
type Tuple struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ICMPID           uint16
	ICMPType         uint8
	ICMPCode         uint8
}

// IsValid reports whether t has both addresses, of one family.
func (t Tuple) IsValid() bool {
	return t.Src.IsValid() && t.Dst.IsValid() && t.Src.Is4() == t.Dst.Is4()
}

// isICMP reports whether t's protocol carries ICMP fields instead of ports.
func (t Tuple) isICMP() bool {
	return t.Proto == protoICMP || t.Proto == protoICMPv6
}

// Invert returns the tuple of the other direction of an untranslated flow,
// as the kernel's nf_ct_invert_tuple does: addresses and ports swapped, an
// ICMP query type turned into its reply type.
func (t Tuple) Invert() Tuple {
	r := t
	r.Src, r.Dst = t.Dst, t.Src
	r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
	switch t.Proto {
	case protoICMP:
		if v, ok := icmpInverse[t.ICMPType]; ok {
			r.ICMPType = v
		}
	case protoICMPv6:
		if v, ok := icmpv6Inverse[t.ICMPType]; ok {
			r.ICMPType = v
		}
	}
	return r
}

const (
	protoICMP   = 1
	protoTCP    = 6
	protoDCCP   = 33
	protoICMPv6 = 58
	protoSCTP   = 132
)

// The query/reply pairs the kernel inverts (nf_conntrack_proto_icmp.c and
// nf_conntrack_proto_icmpv6.c).
var (
	icmpInverse   = map[uint8]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}
	icmpv6Inverse = map[uint8]uint8{128: 129, 129: 128, 139: 140, 140: 139}
)

// NAT is a translation to set up on a created flow: the kernel picks an
// address in [MinAddr, MaxAddr] and a port in [MinPort, MaxPort]. A flow
// synchronised from a peer has MinAddr == MaxAddr and MinPort == MaxPort,
// the values the peer's kernel chose. A zero MinAddr keeps the address, a
// zero MinPort the port.
type NAT struct {
	MinAddr, MaxAddr netip.Addr
	MinPort, MaxPort uint16
}

// IsZero reports whether n translates nothing.
func (n NAT) IsZero() bool { return !n.MinAddr.IsValid() && n.MinPort == 0 }

// SeqAdj is a TCP sequence adjustment (after a helper changed a payload's
// length): from sequence number Pos on, OffsetAfter applies, before it
// OffsetBefore.
type SeqAdj struct {
	Pos, OffsetBefore, OffsetAfter uint32
}

// TCPFlags is the kernel's struct nf_ct_tcp_flags: which flags to set
// (Flags) among those to change (Mask).
type TCPFlags struct{ Flags, Mask uint8 }

// TCP flag bits (IP_CT_TCP_FLAG_* in linux/netfilter/nf_conntrack_tcp.h).
const (
	TCPFlagWindowScale  = 0x01
	TCPFlagSACKPerm     = 0x02
	TCPFlagCloseInit    = 0x04
	TCPFlagBeLiberal    = 0x08
	TCPFlagDataUnacked  = 0x10
	TCPFlagMaxACKSet    = 0x20
	TCPFlagChallengeAck = 0x40
)

// TCPInfo is the TCP protocol state of a flow.
type TCPInfo struct {
	State                   uint8
	WScaleOrig, WScaleReply uint8
	FlagsOrig, FlagsReply   TCPFlags
}

// SCTPInfo is the SCTP protocol state of a flow.
type SCTPInfo struct {
	State               uint8
	VTagOrig, VTagReply uint32
}

// DCCPInfo is the DCCP protocol state of a flow.
type DCCPInfo struct {
	State, Role uint8
}

// Has says which optional parts of a Flow are present, where a zero value
// is meaningful and so cannot mean "absent".
type Has uint8

const (
	// HasProtoInfo: TCP, SCTP or DCCP (by Orig.Proto) holds the
	// protocol state.
	HasProtoInfo Has = 1 << iota
	// HasSeqAdj: SeqAdjOrig and SeqAdjReply hold the adjustment, zero
	// offsets included.
	HasSeqAdj
	// HasCounters: Counters hold the kernel's accounting
	// (nf_conntrack_acct), zero counts included.
	HasCounters
)

// Status bits (enum ip_conntrack_status in
// linux/netfilter/nf_conntrack_common.h).
const (
	StatusExpected   uint32 = 1 << 0
	StatusSeenReply  uint32 = 1 << 1
	StatusAssured    uint32 = 1 << 2
	StatusConfirmed  uint32 = 1 << 3
	StatusSrcNAT     uint32 = 1 << 4
	StatusDstNAT     uint32 = 1 << 5
	StatusSeqAdjust  uint32 = 1 << 6
	StatusSrcNATDone uint32 = 1 << 7
	StatusDstNATDone uint32 = 1 << 8
	StatusDying      uint32 = 1 << 9

	// StatusNATMask is IPS_NAT_MASK, the bits conntrackd clears on
	// update (src/netlink.c, nl_update_conntrack).
	StatusNATMask = StatusSrcNAT | StatusDstNAT
)

// Flow is one entry of the conntrack table, as far as synchronisation is
// concerned. The zero value of every field means "absent", except where
// Present says otherwise.
type Flow struct {
	// Orig is the original direction. Reply is the reply direction as
	// the kernel reports it, translated when NAT applies; on create it
	// is sent only for a flow without NAT (see Encode).
	Orig, Reply Tuple
	// Master is the original tuple of the flow this one is related to
	// (an expectation's master), or zero.
	Master Tuple
	Zone   uint16
	Status uint32
	// Timeout is in seconds; create needs it non-zero.
	Timeout uint32
	Mark    uint32
	// ID is the kernel's identifier of the entry; it is never sent.
	ID      uint32
	Present Has
	TCP     TCPInfo
	SCTP    SCTPInfo
	DCCP    DCCPInfo
	// Helper is the name of the conntrack helper, without a NUL.
	Helper             string
	Labels, LabelsMask []byte
	// SNAT and DNAT are the translations to set up on create. Decoded
	// flows carry the ones their reply tuple shows (see DeriveNAT).
	SNAT, DNAT              NAT
	SeqAdjOrig, SeqAdjReply SeqAdj
	// Counters are the packets and bytes of the original and the reply
	// direction, when Present has HasCounters; Start and Stop the
	// flow's creation and end (nf_conntrack_timestamp; Stop only in a
	// destroy event), zero when absent. Only the kernel reports them:
	// stats mode logs them (conntrackd's src/stats-mode.c); they are
	// never written or synchronised.
	Counters    [2]Counters
	Start, Stop time.Time
}

// Counters are one direction's accounting.
type Counters struct {
	Packets, Bytes uint64
}

// DeriveNAT sets SNAT and DNAT from the difference between f's reply tuple
// and the inverse of its original one, where the status says the kernel
// translated, as conntrackd's src/build.c does when it sends a flow: a
// source NAT shows as the reply's destination, a destination NAT as the
// reply's source.
func (f *Flow) DeriveNAT() {
	f.SNAT, f.DNAT = NAT{}, NAT{}
	if !f.Reply.IsValid() {
		return
	}
	if f.Status&StatusSrcNAT != 0 {
		if f.Orig.Src != f.Reply.Dst {
			f.SNAT.MinAddr, f.SNAT.MaxAddr = f.Reply.Dst, f.Reply.Dst
		}
		if !f.Orig.isICMP() && f.Orig.SrcPort != f.Reply.DstPort {
			f.SNAT.MinPort, f.SNAT.MaxPort = f.Reply.DstPort, f.Reply.DstPort
		}
	}
	if f.Status&StatusDstNAT != 0 {
		if f.Orig.Dst != f.Reply.Src {
			f.DNAT.MinAddr, f.DNAT.MaxAddr = f.Reply.Src, f.Reply.Src
		}
		if !f.Orig.isICMP() && f.Orig.DstPort != f.Reply.SrcPort {
			f.DNAT.MinPort, f.DNAT.MaxPort = f.Reply.SrcPort, f.Reply.SrcPort
		}
	}
}

// String formats t as conntrack(8) does, for messages.
func (t Tuple) String() string {
	if t.isICMP() {
		return fmt.Sprintf("proto %d src=%s dst=%s type=%d code=%d id=%d", t.Proto, t.Src, t.Dst, t.ICMPType, t.ICMPCode, t.ICMPID)
	}
	return fmt.Sprintf("proto %d src=%s dst=%s sport=%d dport=%d", t.Proto, t.Src, t.Dst, t.SrcPort, t.DstPort)
}
