package engine

import (
	"fmt"
	"net/netip"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// WireExpect fills dst with the sync message body of kernel expectation e,
// as conntrackd's exp2msg (src/build.c) does: the master's original tuple,
// the expected tuple and its mask, each with addresses and protocol and,
// when the master's protocol is TCP, UDP, SCTP or DCCP, ports (conntrackd
// decides the three by the master's protocol); the timeout unless
// o.CommitTimeout is set; flags and class; the NAT tuple (its addresses
// for IPv4 only, its ports by the master's protocol) and direction when
// set; the helper and function names when set.
//
// The expected tuple's and the mask's ports are sent as zero when the
// expected protocol has none. The zone is not on the wire.
func WireExpect(dst *wire.Expect, e *ctnl.Expect, o ConvertOptions) {
	*dst = wire.Expect{}
	ports := wirePorts(e.Master.Proto)
	eports := ports && kernelPorts(e.Tuple.Proto)
	wireExpTuple(dst, &dst.Master, e.Master, wire.ExpAttrMasterIPv4, ports)
	wireExpTuple(dst, &dst.Tuple, e.Tuple, wire.ExpAttrExpectIPv4, ports)
	wireExpTuple(dst, &dst.Mask, e.Mask, wire.ExpAttrMaskIPv4, ports)
	if !eports {
		dst.Tuple.SrcPort, dst.Tuple.DstPort = 0, 0
		dst.Mask.SrcPort, dst.Mask.DstPort = 0, 0
	}
	if o.CommitTimeout == 0 {
		dst.Timeout = e.Timeout
		dst.Set(wire.ExpAttrTimeout)
	}
	dst.Flags, dst.Class = e.Flags, e.Class
	dst.Set(wire.ExpAttrFlags)
	dst.Set(wire.ExpAttrClass)
	if !e.NAT.IsZero() {
		n := e.NAT.Tuple
		dst.NAT = wire.Tuple{Proto: n.Proto}
		// conntrackd has no attribute for an IPv6 NAT address
		// (src/build.c); FTP's NAT saves none anyway.
		if n.Src.Is4() {
			dst.NAT.Src, dst.NAT.Dst = n.Src, n.Dst
			dst.Set(wire.ExpAttrNATIPv4)
		}
		dst.Set(wire.ExpAttrNATL4Proto)
		if ports {
			if kernelPorts(n.Proto) {
				dst.NAT.SrcPort, dst.NAT.DstPort = n.SrcPort, n.DstPort
			}
			dst.Set(wire.ExpAttrNATPort)
		}
		dst.NATDir = e.NAT.Dir
		dst.Set(wire.ExpAttrNATDir)
	}
	if e.Helper != "" {
		dst.Helper = wire.MakeName(e.Helper)
		dst.Set(wire.ExpAttrHelperName)
	}
	if e.Function != "" {
		dst.Fn = wire.MakeName(e.Function)
		dst.Set(wire.ExpAttrFn)
	}
}

// wireExpTuple sets one of the three tuple groups, whose attributes are
// numbered IPV4, IPV6, L4PROTO, PORT from base.
func wireExpTuple(dst *wire.Expect, t *wire.Tuple, k ctnl.Tuple, base wire.ExpAttr, ports bool) {
	*t = wire.Tuple{Src: k.Src, Dst: k.Dst, Proto: k.Proto}
	if k.Src.Is4() {
		dst.Set(base)
	} else {
		dst.Set(base + 1)
	}
	dst.Set(base + 2)
	if ports {
		t.SrcPort, t.DstPort = k.SrcPort, k.DstPort
		dst.Set(base + 3)
	}
}

// KernelExpect fills dst, the expectation to write to the kernel, from the
// sync message body w, as conntrackd's msg2exp (src/parse.c). Ports are
// taken where the message has them and the tuple's protocol has ports:
// a legacy sender writes the expected tuple's and the mask's ports by the
// master's protocol, stale bytes when the expected protocol has none
// (docs/compat.md). The timeout is o.CommitTimeout when set.
//
// The NAT is taken when the message has a NAT tuple attribute and the
// direction, as libnetfilter_conntrack needs both to send CTA_EXPECT_NAT.
// Its protocol defaults to the master's (the kernel's NAT tuple has the
// master's); its addresses, absent for IPv6 (conntrackd has no attribute
// for them), are the unspecified ones of the master's family, which is
// what the kernel holds for FTP and whatever saves a port only.
func KernelExpect(dst *ctnl.Expect, w *wire.Expect, o ConvertOptions) error {
	helper, fn := dst.Helper, dst.Function
	*dst = ctnl.Expect{}
	for _, g := range [...]struct {
		t    *ctnl.Tuple
		w    *wire.Tuple
		base wire.ExpAttr
		name string
	}{
		{&dst.Master, &w.Master, wire.ExpAttrMasterIPv4, "master"},
		{&dst.Tuple, &w.Tuple, wire.ExpAttrExpectIPv4, "expected tuple"},
		{&dst.Mask, &w.Mask, wire.ExpAttrMaskIPv4, "mask"},
	} {
		if !w.Has(g.base) && !w.Has(g.base+1) {
			return fmt.Errorf("expectation message: %s: %w", g.name, ErrNoAddresses)
		}
		*g.t = ctnl.Tuple{Src: g.w.Src, Dst: g.w.Dst, Proto: g.w.Proto}
	}
	if dst.Tuple.Src.Is4() != dst.Master.Src.Is4() || dst.Mask.Src.Is4() != dst.Master.Src.Is4() {
		return fmt.Errorf("expectation message: master %s, expected %s, mask %s: %w", dst.Master.Src, dst.Tuple.Src, dst.Mask.Src, ErrFamilyMix)
	}
	if w.Has(wire.ExpAttrMasterPort) && kernelPorts(w.Master.Proto) {
		dst.Master.SrcPort, dst.Master.DstPort = w.Master.SrcPort, w.Master.DstPort
	}
	if kernelPorts(w.Tuple.Proto) {
		if w.Has(wire.ExpAttrExpectPort) {
			dst.Tuple.SrcPort, dst.Tuple.DstPort = w.Tuple.SrcPort, w.Tuple.DstPort
		}
		if w.Has(wire.ExpAttrMaskPort) {
			dst.Mask.SrcPort, dst.Mask.DstPort = w.Mask.SrcPort, w.Mask.DstPort
		}
	}
	dst.Timeout = w.Timeout
	if o.CommitTimeout != 0 {
		dst.Timeout = o.CommitTimeout
	}
	dst.Flags, dst.Class = w.Flags, w.Class
	if (w.Has(wire.ExpAttrNATIPv4) || w.Has(wire.ExpAttrNATL4Proto) || w.Has(wire.ExpAttrNATPort)) && w.Has(wire.ExpAttrNATDir) {
		n := ctnl.Tuple{Proto: dst.Master.Proto}
		if w.Has(wire.ExpAttrNATL4Proto) {
			n.Proto = w.NAT.Proto
		}
		if w.Has(wire.ExpAttrNATIPv4) {
			if !dst.Master.Src.Is4() {
				return fmt.Errorf("expectation message: master %s, NAT %s: %w", dst.Master.Src, w.NAT.Src, ErrFamilyMix)
			}
			n.Src, n.Dst = w.NAT.Src, w.NAT.Dst
		} else if dst.Master.Src.Is4() {
			n.Src, n.Dst = netip.IPv4Unspecified(), netip.IPv4Unspecified()
		} else {
			n.Src, n.Dst = netip.IPv6Unspecified(), netip.IPv6Unspecified()
		}
		if w.Has(wire.ExpAttrNATPort) && kernelPorts(n.Proto) {
			n.SrcPort, n.DstPort = w.NAT.SrcPort, w.NAT.DstPort
		}
		dst.NAT = ctnl.ExpectNAT{Dir: w.NATDir, Tuple: n}
	}
	if w.Has(wire.ExpAttrHelperName) {
		dst.Helper = knownName(w.Helper.Bytes(), helper, knownHelpers)
	}
	if w.Has(wire.ExpAttrFn) {
		dst.Function = knownName(w.Fn.Bytes(), fn, knownFunctions)
	}
	return nil
}

// knownFunctions are the kernel's expectation functions
// (nf_ct_helper_expectfn_register callers: nf_nat_core.c, nf_nat_sip.c,
// nf_nat_h323.c): a received name is one of them, not a new string.
var knownFunctions = []string{"nat-follow-master", "sip", "Q.931", "callforwarding"}
