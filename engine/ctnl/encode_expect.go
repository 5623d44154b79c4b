package ctnl

import (
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
)

// enum ctattr_expect and enum ctattr_expect_nat (nfnetlink_conntrack.h).
const (
	ctaExpectMaster   = 1
	ctaExpectTuple    = 2
	ctaExpectMask     = 3
	ctaExpectTimeout  = 4
	ctaExpectHelpName = 6
	ctaExpectZone     = 7
	ctaExpectFlags    = 8
	ctaExpectClass    = 9
	ctaExpectNAT      = 10
	ctaExpectFn       = 11

	ctaExpectNATDir   = 1
	ctaExpectNATTuple = 2
)

// maxExpectFn bounds an expectation function name. The kernel's policy
// (NLA_NUL_STRING without a length) sets none; conntrackd's sync message
// carries at most 31 bytes and the NUL (src/parse.c), and the kernel's
// names ("nat-follow-master", "sip", "Q.931", ...) are far shorter.
const maxExpectFn = 31

// AppendExpectRequest appends to dst the payload of the ctnetlink request
// that applies op to expectation e, and returns it with the netlink header
// to send it under, as AppendRequest does for flows. It does not allocate
// when dst has room.
//
// What it sends follows conntrackd's src/netlink.c (nl_create_expect,
// nl_destroy_expect) and the kernel's ctnetlink_new_expect and
// ctnetlink_del_expect:
//   - create, create-or-update and update send the master, expected and
//     mask tuples (the kernel wants all three even to update), the zone,
//     timeout, flags, class, helper and function names (NUL-terminated:
//     without the NUL the kernel answers EINVAL) and the NAT. The kernel
//     finds the master by its tuple, in either direction: a missing master
//     is ENOENT, a master without a helper EOPNOTSUPP.
//   - create ignores the timeout sent: the kernel takes the master
//     helper's policy (300 s for FTP). Create-or-update of an existing
//     expectation, like update, changes only its timeout (the kernel's
//     ctnetlink_change_expect), so a create followed by an update sets it.
//   - a helper keeps at most its policy's number of expectations per
//     master (one for FTP): creating another evicts the oldest.
//   - delete: the expected tuple and zone only.
func AppendExpectRequest(dst []byte, op Op, e *Expect) ([]byte, netlink.Header, error) {
	if !e.Tuple.IsValid() {
		return dst, netlink.Header{}, fmt.Errorf("%s expectation: expected tuple: %w", op, errNoTuple)
	}
	x, h, err := startRequest(dst, op, subsysCTExp, ctaExpectTuple, ctaExpectZone, e.Tuple, e.Zone)
	if err != nil || op == OpDelete {
		return x.b, h, err
	}
	// The kernel parses every tuple with the request's family.
	for _, t := range []struct {
		name string
		t    Tuple
	}{{"master", e.Master}, {"mask", e.Mask}} {
		if !t.t.IsValid() {
			return dst, h, fmt.Errorf("%s expectation: %s tuple: %w", op, t.name, errNoTuple)
		}
		if t.t.Src.Is4() != e.Tuple.Src.Is4() {
			return dst, h, fmt.Errorf("%s expectation: %s tuple %s is not of the expected tuple's family", op, t.name, t.t.Src)
		}
	}
	if !e.NAT.IsZero() && (!e.NAT.Tuple.IsValid() || e.NAT.Tuple.Src.Is4() != e.Tuple.Src.Is4()) {
		return dst, h, fmt.Errorf("%s expectation: NAT tuple %s-%s: not two addresses of the expectation's family", op, e.NAT.Tuple.Src, e.NAT.Tuple.Dst)
	}
	if len(e.Helper) > maxHelperName || strings.IndexByte(e.Helper, 0) >= 0 {
		return dst, h, fmt.Errorf("%s expectation: helper name %q: longer than %d bytes or with a NUL", op, e.Helper, maxHelperName)
	}
	if len(e.Function) > maxExpectFn || strings.IndexByte(e.Function, 0) >= 0 {
		return dst, h, fmt.Errorf("%s expectation: function name %q: longer than %d bytes or with a NUL", op, e.Function, maxExpectFn)
	}

	x.tuple(ctaExpectMaster, e.Master)
	x.tuple(ctaExpectTuple, e.Tuple)
	x.tuple(ctaExpectMask, e.Mask)
	if e.Zone != 0 {
		x.u16(ctaExpectZone, e.Zone)
	}
	if e.Timeout != 0 {
		x.u32(ctaExpectTimeout, e.Timeout)
	}
	if e.Flags != 0 {
		x.u32(ctaExpectFlags, e.Flags)
	}
	if e.Class != 0 {
		x.u32(ctaExpectClass, e.Class)
	}
	if e.Helper != "" {
		x.cstring(ctaExpectHelpName, e.Helper)
	}
	if e.Function != "" {
		x.cstring(ctaExpectFn, e.Function)
	}
	if !e.NAT.IsZero() {
		n := x.begin(ctaExpectNAT)
		x.u32(ctaExpectNATDir, e.NAT.Dir)
		x.tuple(ctaExpectNATTuple, e.NAT.Tuple)
		x.end(n)
	}
	return x.b, h, nil
}
