package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// The cache's flow (cache.Flow) is the hub of the conversions: the kernel's
// flow becomes one (CacheFromKernel: kernel events into the internal
// cache), one becomes a sync message (WireFromCache: sends and bulk sends
// from the internal cache, as conntrackd builds a message from its cached
// object), a message becomes one (CacheFromWire: the external cache) and
// one becomes the kernel's flow (KernelFromCache: commits). Each rule of
// conntrackd's src/build.c, src/parse.c and src/netlink.c lives in one of
// these four. Without a cache tier the engine goes through a cache.Flow
// on the stack: WireFlow (src/internal_bypass.c) and KernelFlow
// (src/external_inject.c).
//
// A cache.Flow's Has bits say what its source carried, so that
// cache.Flows.Update keeps, for an attribute a later event or message
// lacks, the value an earlier one gave: the kernel reports the TCP, SCTP
// and DCCP state only when it changed, sequence adjustments and labels
// only in the event that changed them.

// WireFlow fills dst with the sync message body of kernel flow f, without
// a cache: CacheFromKernel then WireFromCache.
func WireFlow(dst *wire.Flow, f *ctnl.Flow, o ConvertOptions) {
	var c cache.Flow
	CacheFromKernel(&c, f)
	WireFromCache(dst, &c, o)
}

// KernelFlow fills dst, the flow to write to the kernel, from the sync
// message body w, without a cache: CacheFromWire, ResolvePorts with
// nothing known (the ports of an SCTP or DCCP message without its state
// are dropped), then KernelFromCache. dst's Labels array and helper name
// are reused as KernelFromCache says.
func KernelFlow(dst *ctnl.Flow, w *wire.Flow, o ConvertOptions) error {
	var c cache.Flow
	if err := CacheFromWire(&c, w); err != nil {
		return err
	}
	ResolvePorts(&c, nil)
	return KernelFromCache(dst, &c, o)
}

// CacheFromKernel fills dst with kernel flow f as the internal cache keeps
// it. The key is the kernel's: the original tuple as the kernel reports
// it, ports of every protocol that has them, and the zone. Has follows
// what the kernel reported: status and mark always (the kernel leaves a
// zero mark out of an update event; it is still the flow's mark), the
// timeout when non-zero (a destroy event has none), the protocol state
// and window scales when f.Present says so, sequence adjustments
// likewise, the master when valid, the helper when named, labels when
// the kernel sent the attribute (all zeros included: labels cleared).
// The NAT is the set-up ctnl read from the reply tuple (natFromKernel).
func CacheFromKernel(dst *cache.Flow, f *ctnl.Flow) {
	*dst = cache.Flow{
		Orig:   cache.Tuple(f.Orig),
		Zone:   f.Zone,
		Has:    cache.HasStatus | cache.HasMark,
		Status: f.Status,
		Mark:   f.Mark,
	}
	if f.Timeout != 0 {
		dst.Timeout = f.Timeout
		dst.Has |= cache.HasTimeout
	}
	if f.Present&ctnl.HasProtoInfo != 0 {
		switch f.Orig.Proto {
		case protoTCP:
			dst.TCPState, dst.TCPWScaleOrig, dst.TCPWScaleReply = f.TCP.State, f.TCP.WScaleOrig, f.TCP.WScaleReply
			dst.Has |= cache.HasTCPState | cache.HasTCPWScale
		case protoSCTP:
			dst.SCTPState, dst.SCTPVTagOrig, dst.SCTPVTagReply = f.SCTP.State, f.SCTP.VTagOrig, f.SCTP.VTagReply
			dst.Has |= cache.HasSCTPState | cache.HasSCTPVTags
		case protoDCCP:
			dst.DCCPState, dst.DCCPRole = f.DCCP.State, f.DCCP.Role
			dst.Has |= cache.HasDCCPState | cache.HasDCCPRole
		}
	}
	if f.Master.IsValid() {
		dst.Master = cache.Tuple(f.Master)
		dst.Has |= cache.HasMaster
	}
	natFromKernel(dst, f)
	if f.Present&ctnl.HasSeqAdj != 0 {
		a, b := f.SeqAdjOrig, f.SeqAdjReply
		dst.SeqAdj = [6]uint32{a.Pos, a.OffsetBefore, a.OffsetAfter, b.Pos, b.OffsetBefore, b.OffsetAfter}
		dst.Has |= cache.HasSeqAdj
	}
	if f.Helper != "" {
		dst.Helper = cache.MakeName(f.Helper)
		dst.Has |= cache.HasHelper
	}
	if f.Labels != nil {
		copy(dst.Labels[:], f.Labels)
		dst.Has |= cache.HasLabels
	}
}

// natFromKernel sets the NAT of dst from kernel flow f's NAT set-up,
// which ctnl's decoder reads from the reply tuple (ctnl.Flow.DeriveNAT):
// the address, and the port for protocols whose NAT port is a port
// (natPorts). conntrackd decides the same with libnetfilter_conntrack's
// NFCT_GOPT_IS_SNAT, _DNAT, _SPAT and _DPAT (src/build.c), which test the
// SRC_NAT_DONE and DST_NAT_DONE bits where ctnl tests SRC_NAT and
// DST_NAT; on a flow the kernel reports they agree, since the kernel sets
// SRC_NAT (DST_NAT) exactly when the source (destination) NAT changed
// the tuple, which is what makes the reply tuple differ. This is the only
// place the engine reads NAT from a kernel flow.
func natFromKernel(dst *cache.Flow, f *ctnl.Flow) {
	ports := natPorts(f.Orig.Proto)
	if f.SNAT.MinAddr.IsValid() {
		dst.SNAT = f.SNAT.MinAddr
		dst.Has |= cache.HasSNAT
	}
	if ports && f.SNAT.MinPort != 0 {
		dst.SNATPort = f.SNAT.MinPort
		dst.Has |= cache.HasSNATPort
	}
	if f.DNAT.MinAddr.IsValid() {
		dst.DNAT = f.DNAT.MinAddr
		dst.Has |= cache.HasDNAT
	}
	if ports && f.DNAT.MinPort != 0 {
		dst.DNATPort = f.DNAT.MinPort
		dst.Has |= cache.HasDNATPort
	}
}

// WireFromCache fills dst with the sync message body of cached flow f, as
// conntrackd's ct2msg (src/build.c) builds it from its cached object; the
// caller chooses the message type (NEW, UPDATE, DELETE) and encodes it
// with wire.AppendMessage.
//
// What is sent, and when:
//   - addresses and protocol always, status when known; PORT for TCP,
//     UDP, SCTP and DCCP; TCP, SCTP and DCCP state when known, the TCP
//     window scales with it when o.WindowTracking; ICMP type, code and
//     identifier for ICMP and ICMPv6;
//   - the timeout when known, unless o.CommitTimeout is set (the receiver
//     then commits with its own); the mark when known, which for a flow
//     from the kernel is always (CacheFromKernel);
//   - the master tuple of a related flow;
//   - SNAT/DNAT address and SPAT/DPAT port when the flow has them, ports
//     only for protocols with ports: the addresses and ports the peer's
//     kernel must map to;
//   - sequence adjustment, helper name, labels (when one is set),
//     SYNPROXY (only a flow received from a peer has it) and zone when
//     present.
//
// Not sent: the reply tuple (the receiver rebuilds it), TCP flags,
// counters, the kernel's ID.
func WireFromCache(dst *wire.Flow, f *cache.Flow, o ConvertOptions) {
	*dst = wire.Flow{}
	proto := f.Orig.Proto
	if f.Orig.Src.Is4() {
		dst.Set(wire.AttrIPv4)
	} else {
		dst.Set(wire.AttrIPv6)
	}
	dst.Orig = wire.Tuple{Src: f.Orig.Src, Dst: f.Orig.Dst, Proto: proto}
	if f.Has&cache.HasStatus != 0 {
		dst.Status = f.Status
		dst.Set(wire.AttrStatus)
	}
	dst.Set(wire.AttrL4Proto)
	if wirePorts(proto) {
		dst.Orig.SrcPort, dst.Orig.DstPort = f.Orig.SrcPort, f.Orig.DstPort
		dst.Set(wire.AttrPort)
	}
	switch proto {
	case protoTCP:
		if f.Has&cache.HasTCPState != 0 {
			dst.TCPState = f.TCPState
			dst.Set(wire.AttrTCPState)
			if o.WindowTracking && f.Has&cache.HasTCPWScale != 0 {
				dst.TCPWScaleOrig, dst.TCPWScaleReply = f.TCPWScaleOrig, f.TCPWScaleReply
				dst.Set(wire.AttrTCPWScaleOrig)
				dst.Set(wire.AttrTCPWScaleRepl)
			}
		}
	case protoSCTP:
		if f.Has&cache.HasSCTPState != 0 {
			dst.SCTPState = f.SCTPState
			dst.Set(wire.AttrSCTPState)
			if f.Has&cache.HasSCTPVTags != 0 {
				dst.SCTPVTagOrig, dst.SCTPVTagReply = f.SCTPVTagOrig, f.SCTPVTagReply
				dst.Set(wire.AttrSCTPVTagOrig)
				dst.Set(wire.AttrSCTPVTagReply)
			}
		}
	case protoDCCP:
		if f.Has&cache.HasDCCPState != 0 {
			dst.DCCPState = f.DCCPState
			dst.Set(wire.AttrDCCPState)
			if f.Has&cache.HasDCCPRole != 0 {
				dst.DCCPRole = f.DCCPRole
				dst.Set(wire.AttrDCCPRole)
			}
		}
	case protoICMP, protoICMPv6:
		dst.ICMPType, dst.ICMPCode, dst.ICMPID = f.Orig.ICMPType, f.Orig.ICMPCode, f.Orig.ICMPID
		dst.Set(wire.AttrICMPType)
		dst.Set(wire.AttrICMPCode)
		dst.Set(wire.AttrICMPID)
	}
	if f.Has&cache.HasTimeout != 0 && o.CommitTimeout == 0 {
		dst.Timeout = f.Timeout
		dst.Set(wire.AttrTimeout)
	}
	if f.Has&cache.HasMark != 0 {
		dst.Mark = f.Mark
		dst.Set(wire.AttrMark)
	}
	if f.Has&cache.HasMaster != 0 {
		m := f.Master
		dst.Master = wire.Tuple{Src: m.Src, Dst: m.Dst, Proto: m.Proto}
		if m.Src.Is4() {
			dst.Set(wire.AttrMasterIPv4)
		} else {
			dst.Set(wire.AttrMasterIPv6)
		}
		dst.Set(wire.AttrMasterL4Proto)
		if kernelPorts(m.Proto) {
			dst.Master.SrcPort, dst.Master.DstPort = m.SrcPort, m.DstPort
			dst.Set(wire.AttrMasterPort)
		}
	}
	is4 := f.Orig.Src.Is4()
	if f.Has&cache.HasSNAT != 0 {
		dst.SNAT = f.SNAT
		if is4 {
			dst.Set(wire.AttrSNATIPv4)
		} else {
			dst.Set(wire.AttrSNATIPv6)
		}
	}
	if f.Has&cache.HasDNAT != 0 {
		dst.DNAT = f.DNAT
		if is4 {
			dst.Set(wire.AttrDNATIPv4)
		} else {
			dst.Set(wire.AttrDNATIPv6)
		}
	}
	if natPorts(proto) {
		if f.Has&cache.HasSNATPort != 0 {
			dst.SNATPort = f.SNATPort
			dst.Set(wire.AttrSPATPort)
		}
		if f.Has&cache.HasDNATPort != 0 {
			dst.DNATPort = f.DNATPort
			dst.Set(wire.AttrDPATPort)
		}
	}
	if f.Has&cache.HasSeqAdj != 0 {
		dst.SeqAdj = f.SeqAdj
		dst.Set(wire.AttrNATSeqAdj)
	}
	if f.Has&cache.HasHelper != 0 && f.Helper.Len() > 0 {
		dst.Helper = wire.MakeName(f.Helper.String())
		dst.Set(wire.AttrHelperName)
	}
	if f.Has&cache.HasLabels != 0 && wireLabels(&dst.Labels, f.Labels[:]) {
		// conntrackd sends as many words as the kernel's bitmap has
		// bits (src/build.c, ct_build_clabel): 128, 4 words.
		dst.LabelWords = wire.LabelBytes / 4
		dst.Set(wire.AttrLabels)
	}
	if f.Has&cache.HasSynproxy != 0 {
		dst.Synproxy = f.Synproxy
		dst.Set(wire.AttrSynproxy)
	}
	if f.Zone != 0 {
		dst.Zone = f.Zone
		dst.Set(wire.AttrZone)
	}
}

// Errors of CacheFromWire, KernelFlow and KernelExpect: a message that
// cannot describe a flow. conntrackd checks none of this (src/parse.c)
// and hands the kernel a degenerate entry, which it refuses.
var (
	ErrNoAddresses = errors.New("no IPV4 or IPV6 attribute")
	ErrFamilyMix   = errors.New("addresses of two families")
)

// CacheFromWire fills dst with the flow of sync message body w as the
// external cache keeps it, taking what conntrackd's msg2ct (src/parse.c)
// takes: Has says which attributes w carried, so that an update keeps
// what it lacks. The rules:
//   - PORT is taken for TCP, UDP, SCTP and DCCP, as sent; for SCTP and
//     DCCP without their state it may be stale bytes (docs/compat.md):
//     the engine decides with ResolvePorts before it keys the flow;
//   - ICMP and ICMPv6 type, code and identifier go into the tuple;
//   - SPAT_PORT and DPAT_PORT only for protocols with ports: a legacy
//     sender puts the reply's ICMP type and code there;
//   - labels are turned into the kernel's layout, the cache's.
func CacheFromWire(dst *cache.Flow, w *wire.Flow) error {
	*dst = cache.Flow{}
	if !w.Has(wire.AttrIPv4) && !w.Has(wire.AttrIPv6) {
		return fmt.Errorf("conntrack message: %w", ErrNoAddresses)
	}
	proto := w.Orig.Proto
	o4 := w.Orig.Src.Is4()
	dst.Orig = cache.Tuple{Src: w.Orig.Src, Dst: w.Orig.Dst, Proto: proto}
	switch proto {
	case protoICMP, protoICMPv6:
		dst.Orig.ICMPType, dst.Orig.ICMPCode, dst.Orig.ICMPID = w.ICMPType, w.ICMPCode, w.ICMPID
	}
	if wirePorts(proto) && w.Has(wire.AttrPort) {
		dst.Orig.SrcPort, dst.Orig.DstPort = w.Orig.SrcPort, w.Orig.DstPort
	}
	dst.Zone = w.Zone
	if w.Has(wire.AttrStatus) {
		dst.Status = w.Status
		dst.Has |= cache.HasStatus
	}
	if w.Has(wire.AttrTimeout) {
		dst.Timeout = w.Timeout
		dst.Has |= cache.HasTimeout
	}
	if w.Has(wire.AttrMark) {
		dst.Mark = w.Mark
		dst.Has |= cache.HasMark
	}
	switch proto {
	case protoTCP:
		if w.Has(wire.AttrTCPState) {
			dst.TCPState = w.TCPState
			dst.Has |= cache.HasTCPState
		}
		if w.Has(wire.AttrTCPWScaleOrig) && w.Has(wire.AttrTCPWScaleRepl) {
			dst.TCPWScaleOrig, dst.TCPWScaleReply = w.TCPWScaleOrig, w.TCPWScaleReply
			dst.Has |= cache.HasTCPWScale
		}
	case protoSCTP:
		if w.Has(wire.AttrSCTPState) {
			dst.SCTPState = w.SCTPState
			dst.Has |= cache.HasSCTPState
		}
		if w.Has(wire.AttrSCTPVTagOrig) && w.Has(wire.AttrSCTPVTagReply) {
			dst.SCTPVTagOrig, dst.SCTPVTagReply = w.SCTPVTagOrig, w.SCTPVTagReply
			dst.Has |= cache.HasSCTPVTags
		}
	case protoDCCP:
		if w.Has(wire.AttrDCCPState) {
			dst.DCCPState = w.DCCPState
			dst.Has |= cache.HasDCCPState
		}
		if w.Has(wire.AttrDCCPRole) {
			dst.DCCPRole = w.DCCPRole
			dst.Has |= cache.HasDCCPRole
		}
	}
	if w.Has(wire.AttrMasterIPv4) || w.Has(wire.AttrMasterIPv6) {
		m := w.Master
		if m.Src.Is4() != o4 {
			return fmt.Errorf("conntrack message: master %s of flow %s: %w", m.Src, w.Orig.Src, ErrFamilyMix)
		}
		dst.Master = cache.Tuple{Src: m.Src, Dst: m.Dst, Proto: m.Proto}
		if w.Has(wire.AttrMasterPort) && kernelPorts(m.Proto) {
			dst.Master.SrcPort, dst.Master.DstPort = m.SrcPort, m.DstPort
		}
		dst.Has |= cache.HasMaster
	}
	if w.Has(wire.AttrSNATIPv4) || w.Has(wire.AttrSNATIPv6) {
		if w.SNAT.Is4() != o4 {
			return fmt.Errorf("conntrack message: SNAT address %s: %w", w.SNAT, ErrFamilyMix)
		}
		dst.SNAT = w.SNAT
		dst.Has |= cache.HasSNAT
	}
	if w.Has(wire.AttrDNATIPv4) || w.Has(wire.AttrDNATIPv6) {
		if w.DNAT.Is4() != o4 {
			return fmt.Errorf("conntrack message: DNAT address %s: %w", w.DNAT, ErrFamilyMix)
		}
		dst.DNAT = w.DNAT
		dst.Has |= cache.HasDNAT
	}
	if natPorts(proto) {
		if w.Has(wire.AttrSPATPort) {
			dst.SNATPort = w.SNATPort
			dst.Has |= cache.HasSNATPort
		}
		if w.Has(wire.AttrDPATPort) {
			dst.DNATPort = w.DNATPort
			dst.Has |= cache.HasDNATPort
		}
	}
	if w.Has(wire.AttrNATSeqAdj) {
		dst.SeqAdj = w.SeqAdj
		dst.Has |= cache.HasSeqAdj
	}
	if w.Has(wire.AttrSynproxy) {
		dst.Synproxy = w.Synproxy
		dst.Has |= cache.HasSynproxy
	}
	if w.Has(wire.AttrHelperName) {
		dst.Helper = cache.MakeName(string(w.Helper.Bytes()))
		dst.Has |= cache.HasHelper
	}
	if w.Has(wire.AttrLabels) {
		kernelLabels(dst.Labels[:], &w.Labels)
		dst.Has |= cache.HasLabels
	}
	return nil
}

// UntrustedPorts reports whether f's ports may be stale bytes: an SCTP or
// DCCP flow without its protocol state, with ports. conntrackd 1.4.7
// writes PORT for these protocols even when its kernel tracks them
// without ports, and then the bytes are left from an earlier message
// (docs/compat.md). A kernel that tracks the protocol reports its state
// in every dump and NEW event, but not in a DESTROY event nor in an
// UPDATE that did not change the state: a sender without an internal
// cache (conntrackd's DisableInternalCache, ctsync's too) sends those
// without state, with real ports.
func UntrustedPorts(f *cache.Flow) bool {
	if f.Orig.SrcPort|f.Orig.DstPort == 0 {
		return false
	}
	switch f.Orig.Proto {
	case protoSCTP:
		return f.Has&cache.HasSCTPState == 0
	case protoDCCP:
		return f.Has&cache.HasDCCPState == 0
	}
	return false
}

// ResolvePorts decides the key of a received flow whose ports may be
// stale (UntrustedPorts): the ports are kept when known says a flow with
// them exists (in the external cache, or in the kernel table when there
// is none), so that an update or a DEL without state finds the flow its
// NEW created; otherwise they are dropped, so that stale bytes, which
// change from one message to the next, never make a key. known may be
// nil (nothing known). Trusted ports are left alone.
func ResolvePorts(f *cache.Flow, known func(cache.Key) bool) {
	if !UntrustedPorts(f) {
		return
	}
	if known != nil && known(f.Key()) {
		return
	}
	f.Orig.SrcPort, f.Orig.DstPort = 0, 0
}

// KernelFromCache fills dst, the flow to write to the kernel, from cached
// flow f, as conntrackd's commit and injection (src/cache-ct.c,
// src/external_inject.c, src/netlink.c) write it:
//   - the original tuple is f's key;
//   - the reply tuple is the inverse of the original with the SNAT/DNAT
//     address and port applied: what the kernel shows once it has set up
//     the NAT that dst.SNAT and dst.DNAT ask for (single address and
//     port ranges), so that the backup translates as the primary did;
//   - a TCP flow with its state gets TCP flags in both directions, as
//     conntrackd did up to 1.4.4 (src/netlink.c): SACK_PERM, then
//     WINDOW_SCALE when o.WindowTracking and the window scales are known,
//     BE_LIBERAL otherwise (scales unknown to the kernel would make it
//     misjudge the windows of a scaled connection), and CLOSE_INIT in
//     TIME_WAIT and CLOSE, so that a new SYN may reopen the tuple;
//   - the timeout is o.CommitTimeout when set, else f's (a commit passes
//     the aged one, see CommitFlow);
//   - the status is f's: ctnl drops EXPECTED on create and the NAT bits
//     on update, as conntrackd does;
//   - labels only when one is set; SYNPROXY is not written.
//
// dst's Labels array is reused when it has room for 16 bytes, and its
// helper name when the name is the same, so that converting into the same
// value again does not allocate.
func KernelFromCache(dst *ctnl.Flow, f *cache.Flow, o ConvertOptions) error {
	labels, helper := dst.Labels[:0], dst.Helper
	*dst = ctnl.Flow{}
	if !f.Orig.Src.IsValid() || !f.Orig.Dst.IsValid() {
		return fmt.Errorf("conntrack: %w", ErrNoAddresses)
	}
	proto := f.Orig.Proto
	o4 := f.Orig.Src.Is4()
	dst.Orig = ctnl.Tuple(f.Orig)
	dst.Zone = f.Zone
	dst.Status = f.Status
	dst.Timeout = f.Timeout
	if o.CommitTimeout != 0 {
		dst.Timeout = o.CommitTimeout
	}
	dst.Mark = f.Mark

	switch {
	case proto == protoTCP && f.Has&cache.HasTCPState != 0:
		dst.Present |= ctnl.HasProtoInfo
		dst.TCP.State = f.TCPState
		scales := f.Has&cache.HasTCPWScale != 0
		if scales {
			dst.TCP.WScaleOrig, dst.TCP.WScaleReply = f.TCPWScaleOrig, f.TCPWScaleReply
		}
		flags := uint8(ctnl.TCPFlagSACKPerm)
		if o.WindowTracking && scales {
			flags |= ctnl.TCPFlagWindowScale
		} else {
			flags |= ctnl.TCPFlagBeLiberal
		}
		if f.TCPState == tcpTimeWait || f.TCPState == tcpClose {
			flags |= ctnl.TCPFlagCloseInit
		}
		dst.TCP.FlagsOrig = ctnl.TCPFlags{Flags: flags, Mask: flags}
		dst.TCP.FlagsReply = dst.TCP.FlagsOrig
	case proto == protoSCTP && f.Has&cache.HasSCTPState != 0:
		dst.Present |= ctnl.HasProtoInfo
		dst.SCTP = ctnl.SCTPInfo{State: f.SCTPState, VTagOrig: f.SCTPVTagOrig, VTagReply: f.SCTPVTagReply}
	case proto == protoDCCP && f.Has&cache.HasDCCPState != 0:
		dst.Present |= ctnl.HasProtoInfo
		dst.DCCP = ctnl.DCCPInfo{State: f.DCCPState, Role: f.DCCPRole}
	}

	if f.Has&cache.HasMaster != 0 {
		if f.Master.Src.Is4() != o4 {
			return fmt.Errorf("conntrack: master %s of flow %s: %w", f.Master.Src, f.Orig.Src, ErrFamilyMix)
		}
		dst.Master = ctnl.Tuple(f.Master)
	}

	// The NAT set-up and the reply tuple it leads to.
	dst.Reply = dst.Orig.Invert()
	if f.Has&cache.HasSNAT != 0 {
		if err := natAddr(&dst.SNAT, f.SNAT, o4, "SNAT"); err != nil {
			return err
		}
		dst.Reply.Dst = f.SNAT
	}
	if f.Has&cache.HasDNAT != 0 {
		if err := natAddr(&dst.DNAT, f.DNAT, o4, "DNAT"); err != nil {
			return err
		}
		dst.Reply.Src = f.DNAT
	}
	// A NAT port is a port only for protocols with ports, and only when
	// the flow has its ports (not those ResolvePorts dropped).
	if natPorts(proto) && f.Orig.SrcPort|f.Orig.DstPort != 0 {
		if f.Has&cache.HasSNATPort != 0 && f.SNATPort != 0 {
			dst.SNAT.MinPort, dst.SNAT.MaxPort = f.SNATPort, f.SNATPort
			dst.Reply.DstPort = f.SNATPort
		}
		if f.Has&cache.HasDNATPort != 0 && f.DNATPort != 0 {
			dst.DNAT.MinPort, dst.DNAT.MaxPort = f.DNATPort, f.DNATPort
			dst.Reply.SrcPort = f.DNATPort
		}
	}

	if f.Has&cache.HasSeqAdj != 0 {
		s := &f.SeqAdj
		dst.Present |= ctnl.HasSeqAdj
		dst.SeqAdjOrig = ctnl.SeqAdj{Pos: s[0], OffsetBefore: s[1], OffsetAfter: s[2]}
		dst.SeqAdjReply = ctnl.SeqAdj{Pos: s[3], OffsetBefore: s[4], OffsetAfter: s[5]}
	}
	if f.Has&cache.HasHelper != 0 {
		dst.Helper = knownName(f.Helper.Bytes(), helper, knownHelpers)
	}
	// Without labels, dst keeps the empty array for the next flow.
	dst.Labels = labels
	if f.Has&cache.HasLabels != 0 && f.Labels != [kernelLabelBytes]byte{} {
		if cap(labels) < kernelLabelBytes {
			labels = make([]byte, kernelLabelBytes)
		}
		dst.Labels = labels[:kernelLabelBytes]
		copy(dst.Labels, f.Labels[:])
	}
	return nil
}

// natAddr sets n to map to exactly a, which must be of the flow's family.
func natAddr(n *ctnl.NAT, a netip.Addr, is4 bool, what string) error {
	if a.Is4() != is4 {
		return fmt.Errorf("conntrack message: %s address %s: %w", what, a, ErrFamilyMix)
	}
	n.MinAddr, n.MaxAddr = a, a
	return nil
}

// kernelLabelBytes is the size of the kernel's label bitmap
// (NF_CT_LABELS_MAX_SIZE), as ctnetlink reports and takes it.
const kernelLabelBytes = 16

// The two label layouts: on the wire, big-endian 32-bit words, label b
// being bit b%32 of word b/32 (src/build.c); in ctnetlink, the kernel's
// bitmap of unsigned longs in host order, label b being bit b%W of word
// b/W for the word size W (net/netfilter/nf_conntrack_labels.c).

// wireLabels fills w from the kernel's bitmap k and reports whether a
// label is set.
func wireLabels(w *[wire.LabelBytes]byte, k []byte) bool {
	var words [wire.LabelBytes / 4]uint32
	set := false
	for i := range words {
		words[i] = kernelWord(k, i)
		set = set || words[i] != 0
	}
	for i, v := range words {
		binary.BigEndian.PutUint32(w[4*i:], v)
	}
	return set
}

// kernelWord returns labels 32i to 32i+31 of the kernel's bitmap k as a
// 32-bit word; bytes k lacks are zero.
func kernelWord(k []byte, i int) uint32 {
	var b [kernelLabelBytes]byte
	copy(b[:], k)
	if bits.UintSize == 64 {
		v := binary.NativeEndian.Uint64(b[8*(i/2):])
		return uint32(v >> (32 * (i % 2)))
	}
	return binary.NativeEndian.Uint32(b[4*i:])
}

// kernelLabels writes the wire bitmap w into k (kernelLabelBytes long).
func kernelLabels(k []byte, w *[wire.LabelBytes]byte) {
	for i := 0; i < wire.LabelBytes/4; i++ {
		v := binary.BigEndian.Uint32(w[4*i:])
		if bits.UintSize == 64 {
			if i%2 == 1 {
				continue
			}
			hi := binary.BigEndian.Uint32(w[4*(i+1):])
			binary.NativeEndian.PutUint64(k[8*(i/2):], uint64(v)|uint64(hi)<<32)
			continue
		}
		binary.NativeEndian.PutUint32(k[4*i:], v)
	}
}
