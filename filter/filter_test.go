package filter

import (
	"net/netip"
	"strings"
	"testing"
)

const (
	protoUDP  uint8 = 17
	protoICMP uint8 = 1
	protoSCTP uint8 = 132
	protoGRE  uint8 = 47

	synSent     TCPState = 1
	established TCPState = 3
	timeWait    TCPState = 7
	closeState  TCPState = 8
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// flow4 is a TCP flow from src to dst whose reply comes from rsrc (dst
// unless DNAT rewrote it).
func flow4(src, dst, rsrc string) Flow {
	return Flow{Family: FamilyInet, Protocol: ProtoTCP,
		OrigSrc: netip.MustParseAddr(src), OrigDst: netip.MustParseAddr(dst), ReplySrc: netip.MustParseAddr(rsrc),
		TCPState: established, HasTCPState: true}
}

func flow6(src, dst string) Flow {
	f := flow4("0.0.0.0", "0.0.0.0", "0.0.0.0")
	f.Family = FamilyInet6
	f.OrigSrc, f.OrigDst, f.ReplySrc = netip.MustParseAddr(src), netip.MustParseAddr(dst), netip.MustParseAddr(dst)
	return f
}

func with(f Flow, edit func(*Flow)) Flow { edit(&f); return f }

// TestPass pins conntrackd 1.4.7's user-space filter semantics
// (src/filter.c, ct_filter_check), one rule per group of rows.
func TestPass(t *testing.T) {
	tcp := flow4("198.51.100.1", "203.0.113.1", "203.0.113.1")
	udp := with(tcp, func(f *Flow) { f.Protocol, f.HasTCPState, f.TCPState = protoUDP, false, 0 })
	protoStage := func(p Policy, ps ...uint8) Stage { return Stage{Kind: KindProtocol, Policy: p, Protocols: ps} }
	addrStage := func(p Policy, ss ...string) Stage { return Stage{Kind: KindAddress, Policy: p, Prefixes: pfx(ss...)} }
	stateStage := func(p Policy, ss ...TCPState) Stage { return Stage{Kind: KindTCPState, Policy: p, TCPStates: ss} }

	tests := []struct {
		name   string
		stages []Stage
		flow   Flow
		want   bool
	}{
		{"no stages keep everything", nil, udp, true},

		// Protocol: the L4 protocol in or out of the set.
		{"protocol accept, listed", []Stage{protoStage(Accept, ProtoTCP, protoSCTP)}, tcp, true},
		{"protocol accept, not listed", []Stage{protoStage(Accept, ProtoTCP, protoSCTP)}, udp, false},
		{"protocol ignore, listed", []Stage{protoStage(Ignore, protoUDP)}, udp, false},
		{"protocol ignore, not listed", []Stage{protoStage(Ignore, protoUDP)}, tcp, true},
		{"protocol 255", []Stage{protoStage(Accept, 255)}, with(udp, func(f *Flow) { f.Protocol = 255 }), true},
		{"protocol 0", []Stage{protoStage(Ignore, 0)}, with(udp, func(f *Flow) { f.Protocol = 0 }), false},

		// Address: original source or reply source.
		{"address accept, original source", []Stage{addrStage(Accept, "198.51.100.1")}, tcp, true},
		{"address accept, reply source", []Stage{addrStage(Accept, "203.0.113.1")}, tcp, true},
		{"address accept, neither", []Stage{addrStage(Accept, "198.51.100.2")}, tcp, false},
		{"address ignore, original source", []Stage{addrStage(Ignore, "198.51.100.1")}, tcp, false},
		{"address ignore, reply source", []Stage{addrStage(Ignore, "203.0.113.1")}, tcp, false},
		{"address ignore, neither", []Stage{addrStage(Ignore, "198.51.100.2")}, tcp, true},
		// DNAT: the client reached 203.0.113.1, rewritten to 198.51.100.9.
		// conntrackd tests the real destination (reply source), not the
		// original destination.
		{"DNAT: reply source is the real destination", []Stage{addrStage(Ignore, "198.51.100.9")},
			flow4("198.51.100.1", "203.0.113.1", "198.51.100.9"), false},
		{"DNAT: original destination is not tested", []Stage{addrStage(Ignore, "203.0.113.1")},
			flow4("198.51.100.1", "203.0.113.1", "198.51.100.9"), true},
		{"DNAT: accept on original destination drops", []Stage{addrStage(Accept, "203.0.113.1")},
			flow4("198.51.100.1", "203.0.113.1", "198.51.100.9"), false},
		// Networks (since 1.4.6 a network hit alone accepts: the
		// "Address Accept" fix), hosts alone, and both.
		{"address accept, network only", []Stage{addrStage(Accept, "198.51.100.0/24")}, tcp, true},
		{"address accept, host only", []Stage{addrStage(Accept, "203.0.113.1")}, tcp, true},
		{"address accept, network miss, host hit", []Stage{addrStage(Accept, "192.0.2.0/24", "203.0.113.1")}, tcp, true},
		{"address accept, network hit, host miss", []Stage{addrStage(Accept, "198.51.100.0/24", "192.0.2.1")}, tcp, true},
		{"address ignore, network", []Stage{addrStage(Ignore, "203.0.113.0/25")}, tcp, false},
		{"address ignore, network just outside", []Stage{addrStage(Ignore, "203.0.113.128/25")}, tcp, true},
		{"address accept, everything", []Stage{addrStage(Accept, "0.0.0.0/0")}, tcp, true},
		// Families: a flow meets the entries of its own family only.
		{"accept with IPv4 entries only drops IPv6", []Stage{addrStage(Accept, "0.0.0.0/0")}, flow6("2001:db8::1", "2001:db8::2"), false},
		{"accept with IPv6 entries only drops IPv4", []Stage{addrStage(Accept, "::/0")}, tcp, false},
		{"ignore with IPv4 entries only keeps IPv6", []Stage{addrStage(Ignore, "0.0.0.0/0")}, flow6("2001:db8::1", "2001:db8::2"), true},
		{"IPv6 host", []Stage{addrStage(Accept, "2001:db8::2")}, flow6("2001:db8::1", "2001:db8::2"), true},
		{"IPv6 network", []Stage{addrStage(Ignore, "2001:db8::/32")}, flow6("2001:db8::1", "2001:db8::2"), false},
		{"IPv6 network miss", []Stage{addrStage(Ignore, "2001:db8:1::/48")}, flow6("2001:db8::1", "2001:db8::2"), true},
		{"IPv4-mapped entry is IPv6, not IPv4", []Stage{addrStage(Accept, "::ffff:198.51.100.1")}, tcp, false},
		{"unknown family skips the address stage", []Stage{addrStage(Accept, "198.51.100.1")},
			with(tcp, func(f *Flow) { f.Family = 7 }), true},

		// TCP state: only TCP flows that carry a state are tested.
		{"state accept, listed", []Stage{stateStage(Accept, established)}, tcp, true},
		{"state accept, not listed", []Stage{stateStage(Accept, synSent, timeWait)}, tcp, false},
		{"state ignore, listed", []Stage{stateStage(Ignore, established)}, tcp, false},
		{"state ignore, not listed", []Stage{stateStage(Ignore, closeState)}, tcp, true},
		{"state accept, UDP passes", []Stage{stateStage(Accept, synSent)}, udp, true},
		{"state accept, SCTP passes", []Stage{stateStage(Accept, synSent)}, with(udp, func(f *Flow) { f.Protocol = protoSCTP }), true},
		{"state accept, TCP without state (DESTROY) passes", []Stage{stateStage(Accept, synSent)},
			with(tcp, func(f *Flow) { f.HasTCPState = false }), true},
		{"state ignore, TCP without state passes", []Stage{stateStage(Ignore, established)},
			with(tcp, func(f *Flow) { f.HasTCPState = false }), true},

		// A chain: every stage must pass.
		{"chain, all pass", []Stage{protoStage(Accept, ProtoTCP), addrStage(Ignore, "192.0.2.0/24"), stateStage(Accept, established)}, tcp, true},
		{"chain, protocol rejects", []Stage{protoStage(Accept, protoGRE), addrStage(Ignore, "192.0.2.0/24"), stateStage(Accept, established)}, tcp, false},
		{"chain, address rejects", []Stage{protoStage(Accept, ProtoTCP), addrStage(Ignore, "198.51.100.0/24"), stateStage(Accept, established)}, tcp, false},
		{"chain, state rejects", []Stage{protoStage(Accept, ProtoTCP), addrStage(Ignore, "192.0.2.0/24"), stateStage(Accept, timeWait)}, tcp, false},
		{"chain, two address stages", []Stage{addrStage(Accept, "198.51.100.0/24"), addrStage(Ignore, "198.51.100.1")}, tcp, false},
		{"chain, ICMP passes a TCP state stage", []Stage{protoStage(Ignore, protoUDP), stateStage(Accept, established)},
			with(udp, func(f *Flow) { f.Protocol = protoICMP }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Settings{Stages: tt.stages})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Pass(&tt.flow); got != tt.want {
				t.Errorf("Pass = %v, want %v", got, tt.want)
			}
			// The stages are pure predicates: reversing them gives the
			// same answer.
			rev := make([]Stage, len(tt.stages))
			for i, st := range tt.stages {
				rev[len(rev)-1-i] = st
			}
			c, _ = New(Settings{Stages: rev})
			if got := c.Pass(&tt.flow); got != tt.want {
				t.Errorf("reversed stages: Pass = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		stage Stage
		want  string
	}{
		{"unknown kind", Stage{Kind: 9}, "stage 1 (Kind(9)): unknown kind 9"},
		{"unknown policy", Stage{Kind: KindProtocol, Policy: 5}, "unknown policy 5"},
		{"prefixes in a protocol stage", Stage{Kind: KindProtocol, Prefixes: pfx("192.0.2.1")}, "the protocol stage lists 1 prefixes"},
		{"protocols in an address stage", Stage{Kind: KindAddress, Protocols: []uint8{6}}, "the address stage lists 1 protocols"},
		{"states in an address stage", Stage{Kind: KindAddress, TCPStates: []TCPState{1}}, "lists 1 TCP states"},
		{"prefixes in a state stage", Stage{Kind: KindTCPState, Prefixes: pfx("::1")}, "the tcp_state stage lists 1 prefixes"},
		{"invalid prefix", Stage{Kind: KindAddress, Prefixes: []netip.Prefix{{}}}, "invalid prefix"},
		{"state out of range", Stage{Kind: KindTCPState, TCPStates: []TCPState{32}}, "TCP state 32 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Settings{Stages: []Stage{tt.stage}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPassDoesNotAllocate(t *testing.T) {
	c, err := New(Settings{Stages: []Stage{
		{Kind: KindProtocol, Policy: Accept, Protocols: []uint8{6, 17}},
		{Kind: KindAddress, Policy: Ignore, Prefixes: pfx("192.0.2.0/24", "2001:db8:1::/48", "192.0.2.200")},
		{Kind: KindTCPState, Policy: Accept, TCPStates: []TCPState{established}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f4, f6 := flow4("198.51.100.1", "203.0.113.1", "203.0.113.1"), flow6("2001:db8::1", "2001:db8::2")
	if n := testing.AllocsPerRun(100, func() { c.Pass(&f4); c.Pass(&f6) }); n != 0 {
		t.Errorf("Pass allocates %v times per call pair, want 0", n)
	}
}
