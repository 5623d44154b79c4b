// Package filter decides which conntrack flows the daemon replicates: a
// chain of stages, each keeping (accept) or dropping (ignore) the flows
// whose layer-4 protocol, addresses or TCP state are in its set.
//
// The predicates are conntrackd 1.4.7's user-space filter (src/filter.c,
// ct_filter_check), rule for rule; each rule below cites it. The package is
// pure: it knows nothing of netlink, the configuration or the sync link.
// The engine converts its own flow representation into a Flow, as
// conntrackd reads its nf_conntrack object, and the filter/kbpf package
// compiles the same Settings into the kernel-side socket filter that
// conntrackd's "Filter From Kernelspace" attaches to the event socket.
package filter

import (
	"fmt"
	"net/netip"
)

// Address families, the kernel's AF_ numbers (nfgenmsg.nfgen_family).
const (
	FamilyInet  uint8 = 2
	FamilyInet6 uint8 = 10
)

// ProtoTCP is IPPROTO_TCP, the only protocol whose state a stage tests.
const ProtoTCP uint8 = 6

// TCPState is a conntrack TCP state, numbered as the kernel's enum
// tcp_conntrack (1 syn_sent ... 8 close, 9 listen/syn_sent2).
type TCPState uint8

// Flow is the filter's view of a conntrack entry: what a stage reads, and
// nothing else. Zero values are fine for what the flow lacks (a DESTROY
// event carries no TCP state: HasTCPState is false).
type Flow struct {
	// Family is FamilyInet or FamilyInet6 (ATTR_L3PROTO).
	Family uint8
	// Protocol is the layer-4 protocol number (ATTR_L4PROTO).
	Protocol uint8
	// The tuples' addresses. The user-space filter reads OrigSrc and
	// ReplySrc only (conntrackd's "real source and destination": the reply
	// source is the destination after DNAT); OrigDst is what the kernel
	// filter reads instead of ReplySrc.
	OrigSrc, OrigDst, ReplySrc netip.Addr
	// TCPState is meaningful when HasTCPState is set.
	TCPState    TCPState
	HasTCPState bool
}

// Kind is what a stage matches on.
type Kind uint8

// The stage kinds.
const (
	KindProtocol Kind = iota
	KindAddress
	KindTCPState
)

func (k Kind) String() string {
	switch k {
	case KindProtocol:
		return "protocol"
	case KindAddress:
		return "address"
	case KindTCPState:
		return "tcp_state"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Policy says what a stage does with the flows in its set.
type Policy uint8

// Accept keeps only the flows in the set; Ignore drops them.
const (
	Accept Policy = iota
	Ignore
)

func (p Policy) String() string {
	switch p {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Stage is one set and its policy. The field that Kind names is used; the
// others must be empty.
type Stage struct {
	Kind      Kind
	Policy    Policy
	Protocols []uint8
	// Prefixes may mix IPv4 and IPv6; a host is a /32 or /128. Host bits
	// are ignored, as conntrackd masks both sides of the comparison.
	Prefixes  []netip.Prefix
	TCPStates []TCPState
}

// Settings are a filter chain: a flow passes when it passes every stage.
// No stages: every flow passes.
type Settings struct {
	Stages []Stage
}

// Chain is a compiled Settings. It is immutable, so one Chain may be used
// by any number of goroutines.
type Chain struct {
	stages []stage
}

type stage struct {
	kind   Kind
	ignore bool
	protos [4]uint64 // bit p set: protocol p is in the set
	states uint32    // bit s set: TCP state s is in the set
	addrs  *AddrSet
}

// New compiles s. It fails on a stage that is not well formed (an unknown
// kind or policy, a TCP state above 31, an invalid prefix, or entries of
// another kind than the stage's).
func New(s Settings) (*Chain, error) {
	c := &Chain{stages: make([]stage, 0, len(s.Stages))}
	for i, st := range s.Stages {
		cs, err := compile(st)
		if err != nil {
			return nil, fmt.Errorf("filter stage %d (%s): %w", i+1, st.Kind, err)
		}
		c.stages = append(c.stages, cs)
	}
	return c, nil
}

func compile(st Stage) (stage, error) {
	out := stage{kind: st.Kind}
	switch st.Policy {
	case Accept:
	case Ignore:
		out.ignore = true
	default:
		return out, fmt.Errorf("unknown policy %d", st.Policy)
	}
	other := func(n int, what string) error {
		if n > 0 {
			return fmt.Errorf("the %s stage lists %d %s", st.Kind, n, what)
		}
		return nil
	}
	var err error
	switch st.Kind {
	case KindProtocol:
		err = firstErr(other(len(st.Prefixes), "prefixes"), other(len(st.TCPStates), "TCP states"))
		for _, p := range st.Protocols {
			out.protos[p/64] |= 1 << (p % 64)
		}
	case KindAddress:
		err = firstErr(other(len(st.Protocols), "protocols"), other(len(st.TCPStates), "TCP states"))
		if err == nil {
			out.addrs, err = NewAddrSet(st.Prefixes)
		}
	case KindTCPState:
		err = firstErr(other(len(st.Protocols), "protocols"), other(len(st.Prefixes), "prefixes"))
		for _, s := range st.TCPStates {
			if s > 31 {
				return out, fmt.Errorf("TCP state %d is out of range", s)
			}
			out.states |= 1 << s
		}
	default:
		err = fmt.Errorf("unknown kind %d", st.Kind)
	}
	return out, err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Pass reports whether f passes every stage. It does not allocate.
//
// conntrackd evaluates its three sets in a fixed order (protocol, address,
// state) and stops at the first rejection (src/filter.c, ct_filter_check);
// every stage is a pure predicate, so the order of the stages cannot change
// the answer, only how soon it comes.
func (c *Chain) Pass(f *Flow) bool {
	for i := range c.stages {
		if !c.stages[i].pass(f) {
			return false
		}
	}
	return true
}

func (s *stage) pass(f *Flow) bool {
	switch s.kind {
	case KindProtocol:
		// src/filter.c, ct_filter_check: the L4 protocol's bit in
		// l4protomap, against the logic: Accept needs it, Ignore refuses it.
		in := s.protos[f.Protocol/64]&(1<<(f.Protocol%64)) != 0
		return in != s.ignore
	case KindAddress:
		// src/filter.c, ct_filter_check: only AF_INET and AF_INET6 flows
		// are tested ("default: break"), each against the entries of its
		// own family, so an Accept set without entries of a flow's family
		// drops that flow.
		if f.Family != FamilyInet && f.Family != FamilyInet6 {
			return true
		}
		// __ct_filter_test_ipv4/6 and __ct_filter_test_mask4/6 test
		// ATTR_ORIG_IPVx_SRC and ATTR_REPL_IPVx_SRC: a flow is in the set
		// when either is. conntrackd looks at networks first and then at
		// hosts, but since 1.4.6 (the "Address Accept" fix) that is
		// "a hit in either", so one lookup over both gives the same answer.
		in := s.addrs.contains(f.Family, f.OrigSrc) || s.addrs.contains(f.Family, f.ReplySrc)
		return in != s.ignore
	case KindTCPState:
		// src/filter.c, __ct_filter_test_state: only TCP flows that carry
		// a state are tested (-1, "we don't know what to do", otherwise),
		// so UDP, ICMP, SCTP ... and DESTROY events always pass.
		if f.Protocol != ProtoTCP || !f.HasTCPState || f.TCPState > 31 {
			return true
		}
		in := s.states&(1<<f.TCPState) != 0
		return in != s.ignore
	}
	return true
}
