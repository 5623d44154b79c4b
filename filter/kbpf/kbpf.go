// Package kbpf compiles a filter chain into the classic BPF socket filter
// that runs it in the kernel, on the ctnetlink event socket, so that
// rejected events are never copied to the daemon: conntrackd's
// "Filter From Kernelspace", whose program libnetfilter_conntrack builds
// (src/conntrack/bsf.c, __setup_netlink_socket_filter).
//
// The program walks the event's netlink attributes with the kernel's
// SKF_AD_NLATTR and SKF_AD_NLATTR_NEST extensions, which the x/net/bpf
// virtual machine does not implement: it can only be tested attached to a
// real NETLINK_NETFILTER socket.
//
// # Layout
//
// As in libnetfilter_conntrack: messages of another netfilter subsystem
// (expectations) are accepted first; then one section per set, protocol
// sets first, then address sets (IPv4 source, IPv4 destination, IPv6
// source, IPv6 destination), then TCP-state sets; a section rejects or
// falls through to the next; the last instruction accepts. A section whose
// attribute is absent from the message passes it. With the defects below
// put back, the output is the program conntrackd 1.4.7 attaches (with
// libnetfilter_conntrack 1.0.9), instruction for instruction; without them
// it differs only in the address sections.
//
// # Semantics, and where they differ from conntrackd's
//
// The protocol and TCP-state sets mean what they mean in user space (see
// package filter): the layer-4 protocol, and the state of TCP flows whose
// event carries one (DESTROY events carry none and pass). The address sets
// do not: the kernel filter reads the original source and the original
// destination (not the reply source), and a flow is in an Accept set only
// when both are, and out of an Ignore set only when neither is. These are
// conntrackd's kernel semantics and are kept.
//
// Three defects of libnetfilter_conntrack's program are not kept:
//
//   - It looks for the IPv4 source and destination attributes without
//     bounding the search to the tuple, so in an IPv6 event the search for
//     the IPv4 destination (type 2) finds the tuple's protocol nest and
//     compares its first four bytes (0x05000100) with the IPv4 entries:
//     an Accept set with IPv4 entries drops every IPv6 flow, and an Ignore
//     set containing 5.0.1.0 drops them all too. Here every address lookup
//     is bounded to its nest (SKF_AD_NLATTR_NEST), as libnetfilter_conntrack
//     already does for IPv6.
//   - In an IPv6 set, a mismatch in any of the first three 32-bit words of
//     an entry jumps past all the remaining entries, so only an address
//     whose first 96 bits equal the first entry's is ever compared with the
//     second. Here a mismatch moves on to the next entry.
//   - Jump offsets are 8 bits; libnetfilter_conntrack lets them wrap, so an
//     IPv4 set of 82 entries or more has branches that wrap (those taken
//     when an attribute is missing), and from 86 entries the branch taken
//     on a match jumps into the middle of the program and drops listed
//     addresses. Here a branch too long for 8 bits goes
//     through an unconditional jump (32-bit offset).
//
// To keep one meaning for Accept across both families, an Accept address
// set also drops the flows of a family it has no entry for, as the
// user-space filter does (libnetfilter_conntrack keeps IPv4 flows when an
// Accept set has IPv6 entries only, and drops IPv6 flows through the first
// defect above).
package kbpf

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"

	"github.com/ctsync/ctsync/filter"
)

// Limits on one address set, libnetfilter_conntrack's __FILTER_ADDR_MAX and
// __FILTER_IPV6_MAX (include/internal/object.h): it sized its 2048-slot
// instruction buffer and its jump stacks ("127 maximum IPs", "4*20") for
// them, and silently drops entries beyond. 20 IPv6 entries (12 instructions
// each) is also what fits the 8-bit jump offsets; 127 IPv4 entries are
// more than fit (82), which this package handles with long jumps.
const (
	MaxIPv4 = 127
	MaxIPv6 = 20
)

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// Netlink and ctnetlink constants (linux/netfilter/nfnetlink.h,
// linux/netfilter/nfnetlink_conntrack.h, linux/filter.h).
const (
	nlmsgTypeOffset   = 4  // offsetof(struct nlmsghdr, nlmsg_type)
	nfgenFamilyOffset = 16 // sizeof(struct nlmsghdr)
	payloadOffset     = 20 // sizeof(struct nlmsghdr) + sizeof(struct nfgenmsg)
	nlaHeader         = 4  // sizeof(struct nlattr)

	subsysCTNetlink = 1 // NFNL_SUBSYS_CTNETLINK

	ctaTupleOrig = 1 // CTA_TUPLE_ORIG
	ctaProtoinfo = 4 // CTA_PROTOINFO
	ctaTupleIP   = 1 // CTA_TUPLE_IP
	ctaTupleProt = 2 // CTA_TUPLE_PROTO
	ctaProtoNum  = 1 // CTA_PROTO_NUM
	ctaIPv4Src   = 1 // CTA_IP_V4_SRC
	ctaIPv4Dst   = 2 // CTA_IP_V4_DST
	ctaIPv6Src   = 3 // CTA_IP_V6_SRC
	ctaIPv6Dst   = 4 // CTA_IP_V6_DST
	ctaProtoTCP  = 1 // CTA_PROTOINFO_TCP
	ctaTCPState  = 1 // CTA_PROTOINFO_TCP_STATE

	skfAdOff        = 0xfffff000 // SKF_AD_OFF (-0x1000)
	skfAdNlattr     = 12         // SKF_AD_NLATTR
	skfAdNlattrNest = 16         // SKF_AD_NLATTR_NEST

	verdictAccept = 0xffffffff // the whole message
	verdictReject = 0
)

// Compile returns the socket filter for s, or nil when s has no stage (no
// filter to attach). Attach it with bpf.Assemble and, for a
// github.com/mdlayher/netlink connection, Conn.SetBPF.
//
// It fails when an address stage has more than MaxIPv4 IPv4 or MaxIPv6
// IPv6 entries, when a stage is not well formed, or when the program would
// exceed MaxInstructions.
func Compile(s filter.Settings) ([]bpf.Instruction, error) {
	return compile(s, false)
}

// compile builds the program; legacy reproduces libnetfilter_conntrack's
// defects (see the package comment) so that tests can compare the output
// with the programs conntrackd attaches, instruction for instruction.
func compile(s filter.Settings, legacy bool) ([]bpf.Instruction, error) {
	if len(s.Stages) == 0 {
		return nil, nil
	}
	// Protocol, address, state: libnetfilter_conntrack's order. The stages
	// are pure predicates, so sorting does not change the outcome.
	stages := slices.Clone(s.Stages)
	slices.SortStableFunc(stages, func(a, b filter.Stage) int { return cmp.Compare(rank(a.Kind), rank(b.Kind)) })

	c := &compiler{legacy: legacy}
	c.subsys()
	for i, st := range stages {
		if err := c.stage(st); err != nil {
			return nil, fmt.Errorf("filter stage %d (%s): %w", i+1, st.Kind, err)
		}
	}
	c.ret(verdictAccept)
	prog, err := c.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("the kernel filter needs %d instructions, more than the kernel's %d", len(prog), MaxInstructions)
	}
	return prog, nil
}

func rank(k filter.Kind) int {
	switch k {
	case filter.KindProtocol:
		return 0
	case filter.KindAddress:
		return 1
	}
	return 2
}

// subsys accepts messages of other netfilter subsystems (the expectation
// events share the socket): the subsystem is nlmsg_type's high byte, which
// on the little-endian wire is the second byte.
func (c *compiler) subsys() {
	next := c.newLabel()
	c.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: nlmsgTypeOffset})
	c.emit(bpf.LoadIndirect{Off: 1, Size: 1})
	c.jeq(subsysCTNetlink, next, noLabel)
	c.ret(verdictAccept)
	c.mark(next)
}

func (c *compiler) stage(st filter.Stage) error {
	ignore := false
	switch st.Policy {
	case filter.Accept:
	case filter.Ignore:
		ignore = true
	default:
		return fmt.Errorf("unknown policy %d", st.Policy)
	}
	switch st.Kind {
	case filter.KindProtocol:
		if len(st.Prefixes) > 0 || len(st.TCPStates) > 0 {
			return fmt.Errorf("a protocol stage lists prefixes or TCP states")
		}
		set := slices.Clone(st.Protocols)
		slices.Sort(set)
		set = slices.Compact(set)
		vals := make([]uint32, len(set))
		for i, p := range set {
			vals[i] = uint32(p)
		}
		c.byteSection(ignore, []uint32{ctaTupleOrig, ctaTupleProt, ctaProtoNum}, vals)
	case filter.KindTCPState:
		if len(st.Prefixes) > 0 || len(st.Protocols) > 0 {
			return fmt.Errorf("a tcp_state stage lists prefixes or protocols")
		}
		var bits uint32
		for _, s := range st.TCPStates {
			if s > 15 {
				// libnetfilter_conntrack keeps TCP states in a 16-bit map.
				return fmt.Errorf("TCP state %d is out of range", s)
			}
			bits |= 1 << s
		}
		var vals []uint32
		for s := range uint32(16) {
			if bits&(1<<s) != 0 {
				vals = append(vals, s)
			}
		}
		c.byteSection(ignore, []uint32{ctaProtoinfo, ctaProtoTCP, ctaTCPState}, vals)
	case filter.KindAddress:
		if len(st.Protocols) > 0 || len(st.TCPStates) > 0 {
			return fmt.Errorf("an address stage lists protocols or TCP states")
		}
		var v4, v6 []netip.Prefix
		for _, p := range st.Prefixes {
			switch {
			case !p.IsValid():
				return fmt.Errorf("invalid prefix %v", p)
			case p.Addr().Is4():
				v4 = append(v4, p)
			default:
				v6 = append(v6, p)
			}
		}
		if len(v4) > MaxIPv4 || len(v6) > MaxIPv6 {
			return fmt.Errorf("%d IPv4 and %d IPv6 entries: the kernel filter holds at most %d IPv4 and %d IPv6 entries per set",
				len(v4), len(v6), MaxIPv4, MaxIPv6)
		}
		if !ignore && !c.legacy {
			// An Accept set keeps no flow of a family it does not list.
			if len(v4) == 0 {
				c.dropFamily(filter.FamilyInet)
			}
			if len(v6) == 0 {
				c.dropFamily(filter.FamilyInet6)
			}
		}
		if len(v4) > 0 {
			c.ipv4Section(ignore, ctaIPv4Src, v4)
			c.ipv4Section(ignore, ctaIPv4Dst, v4)
		}
		if len(v6) > 0 {
			c.ipv6Section(ignore, ctaIPv6Src, v6)
			c.ipv6Section(ignore, ctaIPv6Dst, v6)
		}
	default:
		return fmt.Errorf("unknown kind %d", st.Kind)
	}
	return nil
}

// section is the frame of libnetfilter_conntrack's sections: the code
// between open and close compares the value in A, jumping to match for a
// value in the set, and falls through for a value outside it. A message
// without the attribute jumps to cont and passes.
type section struct {
	ignore      bool
	match, cont label
}

func (c *compiler) open(ignore bool) section {
	s := section{ignore: ignore, cont: c.newLabel()}
	if ignore {
		s.match = c.newLabel() // the reject below
	} else {
		s.match = s.cont
	}
	c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: payloadOffset})
	return s
}

func (c *compiler) close(s section) {
	if s.ignore {
		// Not in the set: skip the reject.
		c.ja(s.cont)
		c.mark(s.match)
	}
	c.ret(verdictReject)
	c.mark(s.cont)
}

// find looks for attribute typ from A: in the rest of the message after
// the offset in A (SKF_AD_NLATTR), or inside the nest that starts at A
// (SKF_AD_NLATTR_NEST). A is the attribute's offset, 0 when absent.
func (c *compiler) find(s section, typ uint32, nest bool) {
	ext := uint32(skfAdNlattr)
	if nest {
		ext = skfAdNlattrNest
	}
	c.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: typ})
	c.emit(bpf.LoadAbsolute{Off: skfAdOff + ext, Size: 1})
	c.jeq(0, s.cont, noLabel)
}

// walk finds the attribute at path from the payload, leaving its offset
// in X.
func (c *compiler) walk(s section, path []uint32, nest bool) {
	for i, typ := range path {
		if i > 0 && !nest {
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: nlaHeader}) // into the nest's payload
		}
		c.find(s, typ, nest && i > 0)
	}
	c.emit(bpf.TAX{})
}

// byteSection tests the one-byte attribute at path against vals: the
// protocol number and the TCP state sections.
func (c *compiler) byteSection(ignore bool, path []uint32, vals []uint32) {
	s := c.open(ignore)
	c.walk(s, path, false)
	c.emit(bpf.LoadIndirect{Off: nlaHeader, Size: 1})
	for _, v := range vals {
		c.jeq(v, s.match, noLabel)
	}
	c.close(s)
}

func (c *compiler) ipv4Section(ignore bool, attr uint32, set []netip.Prefix) {
	s := c.open(ignore)
	c.walk(s, []uint32{ctaTupleOrig, ctaTupleIP, attr}, !c.legacy)
	for _, p := range set {
		mask, ip := mask4(p)
		c.emit(bpf.LoadIndirect{Off: nlaHeader, Size: 4})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
		c.jeq(ip&mask, s.match, noLabel)
	}
	c.close(s)
}

func (c *compiler) ipv6Section(ignore bool, attr uint32, set []netip.Prefix) {
	s := c.open(ignore)
	c.walk(s, []uint32{ctaTupleOrig, ctaTupleIP, attr}, true)
	// libnetfilter_conntrack sends a mismatch in words 0-2 to the end of
	// the list; here it goes to the next entry.
	end := c.newLabel()
	for _, p := range set {
		next := c.newLabel()
		miss := next
		if c.legacy {
			miss = end
		}
		masks, ips := mask6(p)
		for k := range 4 {
			c.emit(bpf.LoadIndirect{Off: nlaHeader + 4*uint32(k), Size: 4})
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: masks[k]})
			if k < 3 {
				c.jeq(ips[k]&masks[k], noLabel, miss)
			} else {
				c.jeq(ips[k]&masks[k], s.match, noLabel)
			}
		}
		c.mark(next)
	}
	c.mark(end)
	c.close(s)
}

// dropFamily rejects the flows of family (nfgenmsg.nfgen_family).
func (c *compiler) dropFamily(family uint8) {
	cont := c.newLabel()
	c.emit(bpf.LoadAbsolute{Off: nfgenFamilyOffset, Size: 1})
	c.jeq(uint32(family), noLabel, cont)
	c.ret(verdictReject)
	c.mark(cont)
}

func mask4(p netip.Prefix) (mask, ip uint32) {
	b := p.Addr().As4()
	ip = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if p.Bits() > 0 {
		mask = ^uint32(0) << (32 - p.Bits())
	}
	return mask, ip
}

func mask6(p netip.Prefix) (masks, ips [4]uint32) {
	b := p.Addr().As16()
	bits := p.Bits()
	for k := range 4 {
		ips[k] = uint32(b[4*k])<<24 | uint32(b[4*k+1])<<16 | uint32(b[4*k+2])<<8 | uint32(b[4*k+3])
		switch n := bits - 32*k; {
		case n >= 32:
			masks[k] = ^uint32(0)
		case n > 0:
			masks[k] = ^uint32(0) << (32 - n)
		}
	}
	return masks, ips
}
