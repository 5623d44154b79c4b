package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// WireFlow fills dst with the sync message body of kernel flow f, as
// conntrackd's ct2msg (src/build.c) does; the caller chooses the message
// type (NEW, UPDATE, DELETE) and encodes it with wire.AppendMessage.
//
// What is sent, and when:
//   - addresses, status and protocol always; PORT for TCP, UDP, SCTP and
//     DCCP; TCP, SCTP and DCCP state when the kernel reported it, the TCP
//     window scales with it when o.WindowTracking; ICMP type, code and
//     identifier for ICMP and ICMPv6;
//   - the timeout when known, unless o.CommitTimeout is set (the receiver
//     then commits with its own); the mark always: the kernel leaves it
//     out of an event only when it is zero;
//   - the master tuple of a related flow;
//   - SNAT/DNAT address when the status says the kernel did source or
//     destination NAT (SRC_NAT_DONE, DST_NAT_DONE) and the reply tuple
//     shows a changed address, SPAT/DPAT port likewise for protocols with
//     ports: the addresses and ports the peer's kernel must map to;
//   - sequence adjustment, helper name, labels and zone when present.
//
// Not sent: the reply tuple (the receiver rebuilds it), TCP flags,
// counters, the kernel's ID, SYNPROXY (ctnl.Flow does not carry it; a
// 1.4.4 peer would refuse it anyway).
func WireFlow(dst *wire.Flow, f *ctnl.Flow, o ConvertOptions) {
	*dst = wire.Flow{}
	proto := f.Orig.Proto
	if f.Orig.Src.Is4() {
		dst.Set(wire.AttrIPv4)
	} else {
		dst.Set(wire.AttrIPv6)
	}
	dst.Orig = wire.Tuple{Src: f.Orig.Src, Dst: f.Orig.Dst, Proto: proto}
	dst.Status = f.Status
	dst.Set(wire.AttrStatus)
	dst.Set(wire.AttrL4Proto)
	if wirePorts(proto) {
		dst.Orig.SrcPort, dst.Orig.DstPort = f.Orig.SrcPort, f.Orig.DstPort
		dst.Set(wire.AttrPort)
	}
	state := f.Present&ctnl.HasProtoInfo != 0
	switch proto {
	case protoTCP:
		if state {
			dst.TCPState = f.TCP.State
			dst.Set(wire.AttrTCPState)
			if o.WindowTracking {
				dst.TCPWScaleOrig, dst.TCPWScaleReply = f.TCP.WScaleOrig, f.TCP.WScaleReply
				dst.Set(wire.AttrTCPWScaleOrig)
				dst.Set(wire.AttrTCPWScaleRepl)
			}
		}
	case protoSCTP:
		if state {
			dst.SCTPState, dst.SCTPVTagOrig, dst.SCTPVTagReply = f.SCTP.State, f.SCTP.VTagOrig, f.SCTP.VTagReply
			dst.Set(wire.AttrSCTPState)
			dst.Set(wire.AttrSCTPVTagOrig)
			dst.Set(wire.AttrSCTPVTagReply)
		}
	case protoDCCP:
		if state {
			dst.DCCPState, dst.DCCPRole = f.DCCP.State, f.DCCP.Role
			dst.Set(wire.AttrDCCPState)
			dst.Set(wire.AttrDCCPRole)
		}
	case protoICMP, protoICMPv6:
		dst.ICMPType, dst.ICMPCode, dst.ICMPID = f.Orig.ICMPType, f.Orig.ICMPCode, f.Orig.ICMPID
		dst.Set(wire.AttrICMPType)
		dst.Set(wire.AttrICMPCode)
		dst.Set(wire.AttrICMPID)
	}
	if f.Timeout != 0 && o.CommitTimeout == 0 {
		dst.Timeout = f.Timeout
		dst.Set(wire.AttrTimeout)
	}
	dst.Mark = f.Mark
	dst.Set(wire.AttrMark)

	if f.Master.IsValid() {
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

	if f.Reply.IsValid() {
		wireNAT(dst, f)
	}
	if f.Present&ctnl.HasSeqAdj != 0 {
		a, b := f.SeqAdjOrig, f.SeqAdjReply
		dst.SeqAdj = [6]uint32{a.Pos, a.OffsetBefore, a.OffsetAfter, b.Pos, b.OffsetBefore, b.OffsetAfter}
		dst.Set(wire.AttrNATSeqAdj)
	}
	if f.Helper != "" {
		dst.Helper = wire.MakeName(f.Helper)
		dst.Set(wire.AttrHelperName)
	}
	if wireLabels(&dst.Labels, f.Labels) {
		// conntrackd sends as many words as the kernel's bitmap has
		// bits (src/build.c, ct_build_clabel): 128, 4 words.
		dst.LabelWords = wire.LabelBytes / 4
		dst.Set(wire.AttrLabels)
	}
	if f.Zone != 0 {
		dst.Zone = f.Zone
		dst.Set(wire.AttrZone)
	}
}

// wireNAT sets the NAT attributes from the reply tuple, as
// libnetfilter_conntrack's NFCT_GOPT_IS_SNAT, _DNAT, _SPAT and _DPAT
// decide them for src/build.c.
func wireNAT(dst *wire.Flow, f *ctnl.Flow) {
	is4 := f.Orig.Src.Is4()
	ports := natPorts(f.Orig.Proto)
	if f.Status&ctnl.StatusSrcNATDone != 0 {
		if f.Reply.Dst != f.Orig.Src {
			dst.SNAT = f.Reply.Dst
			if is4 {
				dst.Set(wire.AttrSNATIPv4)
			} else {
				dst.Set(wire.AttrSNATIPv6)
			}
		}
		if ports && f.Reply.DstPort != f.Orig.SrcPort {
			dst.SNATPort = f.Reply.DstPort
			dst.Set(wire.AttrSPATPort)
		}
	}
	if f.Status&ctnl.StatusDstNATDone != 0 {
		if f.Reply.Src != f.Orig.Dst {
			dst.DNAT = f.Reply.Src
			if is4 {
				dst.Set(wire.AttrDNATIPv4)
			} else {
				dst.Set(wire.AttrDNATIPv6)
			}
		}
		if ports && f.Reply.SrcPort != f.Orig.DstPort {
			dst.DNATPort = f.Reply.SrcPort
			dst.Set(wire.AttrDPATPort)
		}
	}
}

// Errors of KernelFlow and KernelExpect: a message that cannot describe a
// flow. conntrackd checks none of this (src/parse.c) and hands the kernel
// a degenerate entry, which it refuses.
var (
	ErrNoAddresses = errors.New("no IPV4 or IPV6 attribute")
	ErrFamilyMix   = errors.New("addresses of two families")
)

// KernelFlow fills dst, the flow to write to the kernel, from the sync
// message body w, as conntrackd's msg2ct (src/parse.c) and its writes
// (src/netlink.c) do:
//   - ports are taken for TCP and UDP, and for SCTP and DCCP only with
//     their protocol state: a legacy sender writes the PORT attribute for
//     those protocols even when its kernel tracks them without ports, and
//     then the bytes are stale, left from the previous flow it sent
//     (docs/compat.md); a kernel that tracks the protocol always reports
//     the state, so a message with the state has real ports;
//   - the reply tuple is the inverse of the original with the SNAT/DNAT
//     address and port applied: what the kernel shows once it has set up
//     the NAT that dst.SNAT and dst.DNAT ask for (single address and
//     port ranges), so that the backup translates as the primary did;
//   - a TCP flow with its state gets TCP flags in both directions, as
//     conntrackd did up to 1.4.4 (src/netlink.c): SACK_PERM, then
//     WINDOW_SCALE when o.WindowTracking and the peer sent the scales,
//     BE_LIBERAL otherwise (scales unknown to the kernel would make it
//     misjudge the windows of a scaled connection), and CLOSE_INIT in
//     TIME_WAIT and CLOSE, so that a new SYN may reopen the tuple;
//   - the timeout is o.CommitTimeout when set, else the one sent;
//   - the status is the one sent: ctnl drops EXPECTED on create and the
//     NAT bits on update, as conntrackd does.
//
// dst's Labels array is reused when it has room for 16 bytes, and its
// helper name when the name is the same, so that converting into the same
// value again does not allocate.
func KernelFlow(dst *ctnl.Flow, w *wire.Flow, o ConvertOptions) error {
	labels, helper := dst.Labels[:0], dst.Helper
	*dst = ctnl.Flow{}
	if !w.Has(wire.AttrIPv4) && !w.Has(wire.AttrIPv6) {
		return fmt.Errorf("conntrack message: %w", ErrNoAddresses)
	}
	proto := w.Orig.Proto
	o4 := w.Orig.Src.Is4()
	dst.Orig = ctnl.Tuple{Src: w.Orig.Src, Dst: w.Orig.Dst, Proto: proto}
	ports := false
	switch proto {
	case protoTCP, protoUDP:
		ports = true
	case protoSCTP:
		ports = w.Has(wire.AttrSCTPState)
	case protoDCCP:
		ports = w.Has(wire.AttrDCCPState)
	case protoICMP, protoICMPv6:
		dst.Orig.ICMPType, dst.Orig.ICMPCode, dst.Orig.ICMPID = w.ICMPType, w.ICMPCode, w.ICMPID
	}
	ports = ports && w.Has(wire.AttrPort)
	if ports {
		dst.Orig.SrcPort, dst.Orig.DstPort = w.Orig.SrcPort, w.Orig.DstPort
	}
	dst.Status = w.Status
	dst.Timeout = w.Timeout
	if o.CommitTimeout != 0 {
		dst.Timeout = o.CommitTimeout
	}
	dst.Mark = w.Mark
	dst.Zone = w.Zone

	switch {
	case proto == protoTCP && w.Has(wire.AttrTCPState):
		dst.Present |= ctnl.HasProtoInfo
		dst.TCP.State = w.TCPState
		scales := w.Has(wire.AttrTCPWScaleOrig) && w.Has(wire.AttrTCPWScaleRepl)
		if scales {
			dst.TCP.WScaleOrig, dst.TCP.WScaleReply = w.TCPWScaleOrig, w.TCPWScaleReply
		}
		flags := uint8(ctnl.TCPFlagSACKPerm)
		if o.WindowTracking && scales {
			flags |= ctnl.TCPFlagWindowScale
		} else {
			flags |= ctnl.TCPFlagBeLiberal
		}
		if w.TCPState == tcpTimeWait || w.TCPState == tcpClose {
			flags |= ctnl.TCPFlagCloseInit
		}
		dst.TCP.FlagsOrig = ctnl.TCPFlags{Flags: flags, Mask: flags}
		dst.TCP.FlagsReply = dst.TCP.FlagsOrig
	case proto == protoSCTP && w.Has(wire.AttrSCTPState):
		dst.Present |= ctnl.HasProtoInfo
		dst.SCTP = ctnl.SCTPInfo{State: w.SCTPState, VTagOrig: w.SCTPVTagOrig, VTagReply: w.SCTPVTagReply}
	case proto == protoDCCP && w.Has(wire.AttrDCCPState):
		dst.Present |= ctnl.HasProtoInfo
		dst.DCCP = ctnl.DCCPInfo{State: w.DCCPState, Role: w.DCCPRole}
	}

	if w.Has(wire.AttrMasterIPv4) || w.Has(wire.AttrMasterIPv6) {
		m := w.Master
		if m.Src.Is4() != o4 {
			return fmt.Errorf("conntrack message: master %s of flow %s: %w", m.Src, w.Orig.Src, ErrFamilyMix)
		}
		dst.Master = ctnl.Tuple{Src: m.Src, Dst: m.Dst, Proto: m.Proto}
		if w.Has(wire.AttrMasterPort) && kernelPorts(m.Proto) {
			dst.Master.SrcPort, dst.Master.DstPort = m.SrcPort, m.DstPort
		}
	}

	// The NAT set-up and the reply tuple it leads to.
	dst.Reply = dst.Orig.Invert()
	if w.Has(wire.AttrSNATIPv4) || w.Has(wire.AttrSNATIPv6) {
		if err := natAddr(&dst.SNAT, w.SNAT, o4, "SNAT"); err != nil {
			return err
		}
		dst.Reply.Dst = w.SNAT
	}
	if w.Has(wire.AttrDNATIPv4) || w.Has(wire.AttrDNATIPv6) {
		if err := natAddr(&dst.DNAT, w.DNAT, o4, "DNAT"); err != nil {
			return err
		}
		dst.Reply.Src = w.DNAT
	}
	if ports {
		if w.Has(wire.AttrSPATPort) && w.SNATPort != 0 {
			dst.SNAT.MinPort, dst.SNAT.MaxPort = w.SNATPort, w.SNATPort
			dst.Reply.DstPort = w.SNATPort
		}
		if w.Has(wire.AttrDPATPort) && w.DNATPort != 0 {
			dst.DNAT.MinPort, dst.DNAT.MaxPort = w.DNATPort, w.DNATPort
			dst.Reply.SrcPort = w.DNATPort
		}
	}

	if w.Has(wire.AttrNATSeqAdj) {
		s := &w.SeqAdj
		dst.Present |= ctnl.HasSeqAdj
		dst.SeqAdjOrig = ctnl.SeqAdj{Pos: s[0], OffsetBefore: s[1], OffsetAfter: s[2]}
		dst.SeqAdjReply = ctnl.SeqAdj{Pos: s[3], OffsetBefore: s[4], OffsetAfter: s[5]}
	}
	if w.Has(wire.AttrHelperName) {
		dst.Helper = helperName(w.Helper.Bytes(), helper)
	}
	// Without labels, dst keeps the empty array for the next flow.
	dst.Labels = labels
	if w.Has(wire.AttrLabels) && w.Labels != [wire.LabelBytes]byte{} {
		if cap(labels) < kernelLabelBytes {
			labels = make([]byte, kernelLabelBytes)
		}
		dst.Labels = labels[:kernelLabelBytes]
		kernelLabels(dst.Labels, &w.Labels)
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
