package ctnl

import (
	"errors"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

var errNotCT = errors.New("not a conntrack message")

// decodeEvent fills ev from one netlink message: a flow with this
// package's own decoder (decode_flow_linux.go), anything else, and any
// flow message it leaves, with ti-mo's.
func decodeEvent(m netlink.Message, ev *Event) error {
	if decodeFlowFast(m, ev) {
		return nil
	}
	return decodeEventTiMo(m, ev)
}

// decodeEventTiMo fills ev from one netlink message with ti-mo's decoder.
func decodeEventTiMo(m netlink.Message, ev *Event) error {
	var ce conntrack.Event
	if err := ce.Unmarshal(m); err != nil {
		return err
	}
	*ev = Event{PortID: m.Header.PID}
	switch {
	case ce.Flow != nil:
		switch ce.Type {
		case conntrack.EventNew:
			ev.Type = EventNew
		case conntrack.EventUpdate:
			ev.Type = EventUpdate
		case conntrack.EventDestroy:
			ev.Type = EventDestroy
		default:
			return errNotCT
		}
		fromConntrack(&ev.Flow, ce.Flow)
	case ce.Expect != nil:
		switch ce.Type {
		case conntrack.EventExpNew:
			ev.Type = EventExpNew
		case conntrack.EventExpDestroy:
			ev.Type = EventExpDestroy
		default:
			return errNotCT
		}
		x := ce.Expect
		ev.Expect = &Expect{
			Master:   fromTuple(x.TupleMaster),
			Tuple:    fromTuple(x.Tuple),
			Mask:     fromTuple(x.Mask),
			Timeout:  x.Timeout,
			Zone:     x.Zone,
			Helper:   x.HelpName,
			Flags:    x.Flags,
			Class:    x.Class,
			Function: x.Function,
			ID:       x.ID,
		}
		// The kernel sends CTA_EXPECT_NAT only for an expectation
		// that has one; the decoder keeps its direction as a bool,
		// which the kernel's enum ip_conntrack_dir (0 or 1) fits.
		if x.NAT.Tuple.IP.SourceAddress.IsValid() {
			ev.Expect.NAT.Tuple = fromTuple(x.NAT.Tuple)
			if x.NAT.Direction {
				ev.Expect.NAT.Dir = 1
			}
		}
	default:
		return errNotCT
	}
	return nil
}

func fromTuple(t conntrack.Tuple) Tuple {
	r := Tuple{
		Src:   t.IP.SourceAddress,
		Dst:   t.IP.DestinationAddress,
		Proto: t.Proto.Protocol,
	}
	if r.isICMP() {
		r.ICMPID, r.ICMPType, r.ICMPCode = t.Proto.ICMPID, t.Proto.ICMPType, t.Proto.ICMPCode
	} else {
		r.SrcPort, r.DstPort = t.Proto.SourcePort, t.Proto.DestinationPort
	}
	return r
}

// fromConntrack converts the decoder's flow into ours, deriving the NAT
// the reply tuple shows.
func fromConntrack(f *Flow, c *conntrack.Flow) {
	*f = Flow{
		Orig:       fromTuple(c.TupleOrig),
		Reply:      fromTuple(c.TupleReply),
		Zone:       c.Zone,
		Status:     uint32(c.Status),
		Timeout:    c.Timeout,
		Mark:       c.Mark,
		ID:         c.ID,
		Helper:     c.Helper.Name,
		Labels:     c.Labels,
		LabelsMask: c.LabelsMask,
	}
	if c.TupleMaster.IP.SourceAddress.IsValid() {
		f.Master = fromTuple(c.TupleMaster)
	}
	switch {
	case c.ProtoInfo.TCP != nil:
		t := c.ProtoInfo.TCP
		f.Present |= HasProtoInfo
		f.TCP = TCPInfo{
			State:       t.State,
			WScaleOrig:  t.OriginalWindowScale,
			WScaleReply: t.ReplyWindowScale,
			FlagsOrig:   TCPFlags{Flags: uint8(t.OriginalFlags >> 8), Mask: uint8(t.OriginalFlags)},
			FlagsReply:  TCPFlags{Flags: uint8(t.ReplyFlags >> 8), Mask: uint8(t.ReplyFlags)},
		}
	case c.ProtoInfo.SCTP != nil:
		s := c.ProtoInfo.SCTP
		f.Present |= HasProtoInfo
		f.SCTP = SCTPInfo{State: s.State, VTagOrig: s.VTagOriginal, VTagReply: s.VTagReply}
	case c.ProtoInfo.DCCP != nil:
		f.Present |= HasProtoInfo
		f.DCCP = DCCPInfo{State: c.ProtoInfo.DCCP.State, Role: c.ProtoInfo.DCCP.Role}
	}
	// The decoder keeps no trace of an absent adjustment; the kernel
	// sends one only for a flow that has it, and an all-zero one adjusts
	// nothing, so non-zero is presence.
	so, sr := c.SeqAdjOrig, c.SeqAdjReply
	if so.Position|so.OffsetBefore|so.OffsetAfter|sr.Position|sr.OffsetBefore|sr.OffsetAfter != 0 {
		f.Present |= HasSeqAdj
		f.SeqAdjOrig = SeqAdj{Pos: so.Position, OffsetBefore: so.OffsetBefore, OffsetAfter: so.OffsetAfter}
		f.SeqAdjReply = SeqAdj{Pos: sr.Position, OffsetBefore: sr.OffsetBefore, OffsetAfter: sr.OffsetAfter}
	}
	// The decoder marks the reply counters' direction when it reads
	// CTA_COUNTERS_REPLY, which the kernel sends with CTA_COUNTERS_ORIG
	// whenever the flow has accounting (ctnetlink_dump_acct): that is
	// the only trace of counters that are still zero.
	if c.CountersReply.Direction {
		f.Present |= HasCounters
		f.Counters = [2]Counters{
			{Packets: c.CountersOrig.Packets, Bytes: c.CountersOrig.Bytes},
			{Packets: c.CountersReply.Packets, Bytes: c.CountersReply.Bytes},
		}
	}
	f.Start, f.Stop = c.Timestamp.Start, c.Timestamp.Stop
	f.DeriveNAT()
}
