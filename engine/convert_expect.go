package engine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// The cache's expectation (cache.Expect) is the hub of the expectation
// conversions, as cache.Flow is of the flow ones (convert_flow.go): the
// kernel's expectation becomes one (CacheExpectFromKernel: expectation
// events into the internal cache), one becomes a sync message
// (WireExpectFromCache: src/build.c's exp2msg), a message becomes one
// (CacheExpectFromWire: src/parse.c's msg2exp, the external cache) and
// one becomes the kernel's expectation (KernelExpectFromCache: commits,
// src/netlink.c's nl_create_expect). Each rule lives in one of these
// four. Without a cache tier the engine goes through a cache.Expect on
// the stack: WireExpect and KernelExpect.

// WireExpect fills dst with the sync message body of kernel expectation e,
// without a cache: CacheExpectFromKernel then WireExpectFromCache.
func WireExpect(dst *wire.Expect, e *ctnl.Expect, o ConvertOptions) {
	var c cache.Expect
	CacheExpectFromKernel(&c, e)
	WireExpectFromCache(dst, &c, o)
}

// KernelExpect fills dst, the expectation to write to the kernel, from
// the sync message body w, without a cache: CacheExpectFromWire then
// KernelExpectFromCache. dst's helper and function names are reused as
// KernelExpectFromCache says.
func KernelExpect(dst *ctnl.Expect, w *wire.Expect, o ConvertOptions) error {
	var c cache.Expect
	if err := CacheExpectFromWire(&c, w); err != nil {
		return err
	}
	return KernelExpectFromCache(dst, &c, o)
}

// CacheExpectFromKernel fills dst with kernel expectation e as the
// internal cache keeps it. The key is the expected tuple and the zone.
// Has follows what the kernel reported: master, mask, flags and class
// always, the timeout when non-zero (a destroy event has none), the NAT
// and its direction when set, the helper and function when named. The
// kernel's ID is not kept: it means nothing to a peer.
func CacheExpectFromKernel(dst *cache.Expect, e *ctnl.Expect) {
	*dst = cache.Expect{
		Tuple: cache.Tuple(e.Tuple), Zone: e.Zone,
		Master: cache.Tuple(e.Master), Mask: cache.Tuple(e.Mask),
		Flags: e.Flags, Class: e.Class,
		Has: cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasFlags | cache.ExpHasClass,
	}
	if e.Timeout != 0 {
		dst.Timeout = e.Timeout
		dst.Has |= cache.ExpHasTimeout
	}
	if !e.NAT.IsZero() {
		dst.NAT, dst.NATDir = cache.Tuple(e.NAT.Tuple), e.NAT.Dir
		dst.Has |= cache.ExpHasNAT | cache.ExpHasNATDir
	}
	if e.Helper != "" {
		dst.Helper = cache.MakeName(e.Helper)
		dst.Has |= cache.ExpHasHelper
	}
	if e.Function != "" {
		dst.Fn = cache.MakeName(e.Function)
		dst.Has |= cache.ExpHasFn
	}
}

// WireExpectFromCache fills dst with the sync message body of cached
// expectation e, as conntrackd's exp2msg (src/build.c) does: the master's
// original tuple, the expected tuple and its mask, each with addresses and
// protocol and, when the master's protocol is TCP, UDP, SCTP or DCCP,
// ports (conntrackd decides the three by the master's protocol); the
// timeout unless o.CommitTimeout is set; flags and class; the
// NAT tuple (its addresses for IPv4 only, its ports by the master's
// protocol) and direction when set; the helper and function names when
// set.
//
// The expected tuple's and the mask's ports are sent as zero when the
// expected protocol has none. The zone is not on the wire.
func WireExpectFromCache(dst *wire.Expect, e *cache.Expect, o ConvertOptions) {
	*dst = wire.Expect{}
	ports := wirePorts(e.Master.Proto)
	eports := ports && kernelPorts(e.Tuple.Proto)
	wireExpTuple(dst, &dst.Master, &e.Master, wire.ExpAttrMasterIPv4, ports)
	wireExpTuple(dst, &dst.Tuple, &e.Tuple, wire.ExpAttrExpectIPv4, ports)
	wireExpTuple(dst, &dst.Mask, &e.Mask, wire.ExpAttrMaskIPv4, ports)
	if !eports {
		dst.Tuple.SrcPort, dst.Tuple.DstPort = 0, 0
		dst.Mask.SrcPort, dst.Mask.DstPort = 0, 0
	}
	if o.CommitTimeout == 0 {
		// Sent even when unknown (zero), as conntrackd does.
		dst.Timeout = e.Timeout
		dst.Set(wire.ExpAttrTimeout)
	}
	dst.Flags, dst.Class = e.Flags, e.Class
	dst.Set(wire.ExpAttrFlags)
	dst.Set(wire.ExpAttrClass)
	if e.Has&cache.ExpHasNAT != 0 {
		n := &e.NAT
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
		dst.NATDir = e.NATDir
		dst.Set(wire.ExpAttrNATDir)
	}
	if e.Has&cache.ExpHasHelper != 0 && e.Helper.Len() > 0 {
		dst.Helper = wire.MakeName(e.Helper.String())
		dst.Set(wire.ExpAttrHelperName)
	}
	if e.Has&cache.ExpHasFn != 0 && e.Fn.Len() > 0 {
		dst.Fn = wire.MakeName(e.Fn.String())
		dst.Set(wire.ExpAttrFn)
	}
}

// wireExpTuple sets one of the three tuple groups, whose attributes are
// numbered IPV4, IPV6, L4PROTO, PORT from base.
func wireExpTuple(dst *wire.Expect, t *wire.Tuple, k *cache.Tuple, base wire.ExpAttr, ports bool) {
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

// CacheExpectFromWire fills dst with the expectation of sync message body
// w as the external cache keeps it, as conntrackd's msg2exp (src/parse.c)
// takes it. Ports are taken where the message has them and the tuple's
// protocol has ports: a legacy sender writes the expected tuple's and the
// mask's ports by the master's protocol, stale bytes when the expected
// protocol has none (docs/compat.md), and they would split the key.
//
// The NAT is taken when the message has a NAT tuple attribute and the
// direction, as libnetfilter_conntrack needs both to send CTA_EXPECT_NAT.
// Its protocol defaults to the master's (the kernel's NAT tuple has the
// master's); its addresses, absent for IPv6 (conntrackd has no attribute
// for them), are the unspecified ones of the master's family, which is
// what the kernel holds for FTP and whatever saves a port only.
//
// A message without the addresses of the master, the expected tuple or
// the mask, or with two families, is refused: conntrackd would hand the
// kernel a degenerate expectation, which it refuses.
func CacheExpectFromWire(dst *cache.Expect, w *wire.Expect) error {
	*dst = cache.Expect{}
	for _, g := range [...]struct {
		base wire.ExpAttr
		name string
	}{
		{wire.ExpAttrMasterIPv4, "master"},
		{wire.ExpAttrExpectIPv4, "expected tuple"},
		{wire.ExpAttrMaskIPv4, "mask"},
	} {
		if !w.Has(g.base) && !w.Has(g.base+1) {
			return fmt.Errorf("expectation message: %s: %w", g.name, ErrNoAddresses)
		}
	}
	dst.Master = cache.Tuple{Src: w.Master.Src, Dst: w.Master.Dst, Proto: w.Master.Proto}
	dst.Tuple = cache.Tuple{Src: w.Tuple.Src, Dst: w.Tuple.Dst, Proto: w.Tuple.Proto}
	dst.Mask = cache.Tuple{Src: w.Mask.Src, Dst: w.Mask.Dst, Proto: w.Mask.Proto}
	if dst.Tuple.Src.Is4() != dst.Master.Src.Is4() || dst.Mask.Src.Is4() != dst.Master.Src.Is4() {
		return fmt.Errorf("expectation message: master %s, expected %s, mask %s: %w", dst.Master.Src, dst.Tuple.Src, dst.Mask.Src, ErrFamilyMix)
	}
	dst.Has = cache.ExpHasMaster | cache.ExpHasMask
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
	if w.Has(wire.ExpAttrTimeout) {
		dst.Timeout = w.Timeout
		dst.Has |= cache.ExpHasTimeout
	}
	if w.Has(wire.ExpAttrFlags) {
		dst.Flags = w.Flags
		dst.Has |= cache.ExpHasFlags
	}
	if w.Has(wire.ExpAttrClass) {
		dst.Class = w.Class
		dst.Has |= cache.ExpHasClass
	}
	if (w.Has(wire.ExpAttrNATIPv4) || w.Has(wire.ExpAttrNATL4Proto) || w.Has(wire.ExpAttrNATPort)) && w.Has(wire.ExpAttrNATDir) {
		n := cache.Tuple{Proto: dst.Master.Proto}
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
		dst.NAT, dst.NATDir = n, w.NATDir
		dst.Has |= cache.ExpHasNAT | cache.ExpHasNATDir
	}
	if w.Has(wire.ExpAttrHelperName) {
		dst.Helper = cache.MakeName(string(w.Helper.Bytes()))
		dst.Has |= cache.ExpHasHelper
	}
	if w.Has(wire.ExpAttrFn) {
		dst.Fn = cache.MakeName(string(w.Fn.Bytes()))
		dst.Has |= cache.ExpHasFn
	}
	return nil
}

// KernelExpectFromCache fills dst, the expectation to write to the
// kernel, from cached expectation e. The timeout is o.CommitTimeout when
// set, else e's. dst's helper and function names are kept when e names
// the same, and the kernel's helpers and functions are named without
// allocating (knownName), so that a commit allocates nothing for them.
// An expectation without master or mask cannot be written: the kernel
// needs both to create one.
func KernelExpectFromCache(dst *ctnl.Expect, e *cache.Expect, o ConvertOptions) error {
	helper, fn := dst.Helper, dst.Function
	*dst = ctnl.Expect{}
	if e.Has&(cache.ExpHasMaster|cache.ExpHasMask) != cache.ExpHasMaster|cache.ExpHasMask ||
		!e.Master.Src.IsValid() || !e.Tuple.Src.IsValid() || !e.Mask.Src.IsValid() {
		return fmt.Errorf("expectation %v: master or mask: %w", e.Tuple, ErrNoAddresses)
	}
	dst.Master, dst.Tuple, dst.Mask = ctnl.Tuple(e.Master), ctnl.Tuple(e.Tuple), ctnl.Tuple(e.Mask)
	dst.Zone = e.Zone
	dst.Timeout = e.Timeout
	if o.CommitTimeout != 0 {
		dst.Timeout = o.CommitTimeout
	}
	dst.Flags, dst.Class = e.Flags, e.Class
	if e.Has&cache.ExpHasNAT != 0 && e.Has&cache.ExpHasNATDir != 0 {
		dst.NAT = ctnl.ExpectNAT{Dir: e.NATDir, Tuple: ctnl.Tuple(e.NAT)}
	}
	if e.Has&cache.ExpHasHelper != 0 {
		dst.Helper = knownName(e.Helper.Bytes(), helper, knownHelpers)
	}
	if e.Has&cache.ExpHasFn != 0 {
		dst.Function = knownName(e.Fn.Bytes(), fn, knownFunctions)
	}
	return nil
}

// CommitExpect fills dst, the expectation a commit writes, from cached
// entry e: KernelExpectFromCache with the timeout conntrackd gives a
// committed expectation (src/cache-exp.c, cache_exp_commit_step):
// CommitTimeout when set, else the one the peer sent aged by the whole
// seconds since the entry's last update, 60 s when that is negative or
// the clock went back. When exactly nothing is left, conntrackd's
// nl_create_expect (src/netlink.c) keeps the timeout of the message, as
// this does; when the message had none either it becomes 60 s, since
// the kernel needs one.
func CommitExpect(dst *ctnl.Expect, e *cache.ExpEntry, now time.Time, o ConvertOptions) error {
	if o.CommitTimeout == 0 {
		o.CommitTimeout = expCommitTimeout(e, now)
	}
	return KernelExpectFromCache(dst, &e.Expect, o)
}

func expCommitTimeout(e *cache.ExpEntry, now time.Time) uint32 {
	age := now.Unix() - e.Updated.Unix()
	if age < 0 {
		age = 60
	}
	left := int64(e.Expect.Timeout) - age
	switch {
	case left < 0:
		return 60
	case left == 0 && e.Expect.Timeout == 0:
		return 60
	case left == 0:
		return e.Expect.Timeout
	}
	return uint32(left)
}

// knownFunctions are the kernel's expectation functions
// (nf_ct_helper_expectfn_register callers: nf_nat_core.c, nf_nat_sip.c,
// nf_nat_h323.c): a received name is one of them, not a new string.
var knownFunctions = []string{"nat-follow-master", "sip", "Q.931", "callforwarding"}
