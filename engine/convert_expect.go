package engine

import (
	"fmt"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// WireExpect fills dst with the sync message body of kernel expectation e,
// as conntrackd's exp2msg (src/build.c) does: the master's original tuple,
// the expected tuple and its mask, each with addresses and protocol and,
// when the master's protocol is TCP, UDP, SCTP or DCCP, ports (conntrackd
// decides the three by the master's protocol); the timeout unless
// o.CommitTimeout is set; flags and class; the helper name when set.
//
// The expected tuple's and the mask's ports are sent as zero when the
// expected protocol has none. ctnl.Expect carries neither the zone (not
// on the wire) nor the NAT tuple, NAT direction and expectation function
// (EXP_NAT_*, EXP_FN), which are therefore not sent.
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
	if e.Helper != "" {
		dst.Helper = wire.MakeName(e.Helper)
		dst.Set(wire.ExpAttrHelperName)
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
// The NAT tuple, NAT direction and expectation function are dropped:
// ctnl.Expect has no place for them.
func KernelExpect(dst *ctnl.Expect, w *wire.Expect, o ConvertOptions) error {
	helper := dst.Helper
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
	if w.Has(wire.ExpAttrHelperName) {
		dst.Helper = helperName(w.Helper.Bytes(), helper)
	}
	return nil
}
