package kbpf

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ctsync/ctsync/filter"
)

// entry is a synthetic conntrack entry (198.18.0.0/15 and 2001:db8::/32
// carry no traffic), named by its id: the original source port or ICMP id.
type entry struct {
	id       uint16
	proto    uint8
	src, dst string
	state    filter.TCPState // 0: none (not TCP)
	replySrc string          // DNAT: the real destination; "" for dst
}

// zoo holds one entry for each distinction a filter makes.
var zoo = []entry{
	{1, 6, "198.18.0.1", "198.18.0.2", established, ""},
	{2, 6, "198.18.0.1", "198.18.1.2", synSent, ""},
	{3, 17, "198.18.0.3", "198.18.0.4", 0, ""},
	{4, 1, "198.18.0.3", "198.18.0.4", 0, ""},
	{5, 6, "198.18.5.1", "198.19.0.2", established, ""},
	// DNAT: 198.18.0.2 is really 198.18.6.9. The kernel filter reads the
	// original destination, the user-space one the reply source.
	{6, 6, "198.18.0.1", "198.18.0.2", established, "198.18.6.9"},
	{7, 6, "2001:db8::1", "2001:db8::2", established, ""},
	{8, 6, "2001:db8:1::5", "2001:db8:1::6", synSent, ""},
	{9, 17, "2001:db8:2::1", "2001:db8:2::2", 0, ""},
	{10, 17, "2001:db8:1::7", "2001:db8:1::8", 0, ""},
}

func (e entry) flow() filter.Flow {
	f := filter.Flow{Protocol: e.proto, OrigSrc: netip.MustParseAddr(e.src), OrigDst: netip.MustParseAddr(e.dst),
		TCPState: e.state, HasTCPState: e.state != 0}
	f.ReplySrc = f.OrigDst
	if e.replySrc != "" {
		f.ReplySrc = netip.MustParseAddr(e.replySrc)
	}
	f.Family = filter.FamilyInet6
	if f.OrigSrc.Is4() {
		f.Family = filter.FamilyInet
	}
	return f
}

// conntrackArgs are the conntrack -I arguments that create e.
func (e entry) conntrackArgs() []string {
	args := []string{"-s", e.src, "-d", e.dst}
	switch e.proto {
	case 1:
		return append(args, "-p", "icmp", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", fmt.Sprint(e.id))
	case 6:
		args = append(args, "-p", "tcp", "--state", map[filter.TCPState]string{synSent: "SYN_SENT", established: "ESTABLISHED"}[e.state])
	case 17:
		args = append(args, "-p", "udp")
	}
	args = append(args, "--sport", fmt.Sprint(e.id), "--dport", "80")
	if e.replySrc != "" {
		args = append(args, "--reply-src", e.replySrc, "--reply-dst", e.src, "--reply-port-src", "80", "--reply-port-dst", fmt.Sprint(e.id))
	}
	return args
}

func ipv4Hosts(from, to int) []string { return seq("198.18.0.%d", from, to) }

// kernelCases are run by the kernel (TestKernelFilter) and by the
// interpreter (TestVMFilter): which zoo entries pass Compile's program.
var kernelCases = []struct {
	name   string
	stages []filter.Stage
	want   []uint16
}{
	{"protocol accept", []filter.Stage{protoStage(filter.Accept, 6)}, []uint16{1, 2, 5, 6, 7, 8}},
	{"protocol ignore", []filter.Stage{protoStage(filter.Ignore, 6)}, []uint16{3, 4, 9, 10}},
	{"protocol accept, several", []filter.Stage{protoStage(filter.Accept, 17, 1)}, []uint16{3, 4, 9, 10}},
	// Only TCP entries are tested; the others pass.
	{"state accept", []filter.Stage{stateStage(filter.Accept, established)}, []uint16{1, 3, 4, 5, 6, 7, 9, 10}},
	{"state ignore", []filter.Stage{stateStage(filter.Ignore, established)}, []uint16{2, 3, 4, 8, 9, 10}},
	// The original source and destination are tested: 6 goes (its
	// original destination is listed), 5 stays.
	{"address ignore, host", []filter.Stage{addrStage(filter.Ignore, "198.18.0.2")}, []uint16{2, 3, 4, 5, 7, 8, 9, 10}},
	{"address ignore, network", []filter.Stage{addrStage(filter.Ignore, "198.19.0.0/16")}, []uint16{1, 2, 3, 4, 6, 7, 8, 9, 10}},
	// Accept needs both ends listed (5's destination is not), and drops
	// IPv6 flows when no IPv6 entry is listed ...
	{"address accept, IPv4 only", []filter.Stage{addrStage(filter.Accept, "198.18.0.0/16")}, []uint16{1, 2, 3, 4, 6}},
	// ... and IPv4 flows when no IPv4 entry is (conntrackd keeps them).
	{"address accept, IPv6 only", []filter.Stage{addrStage(filter.Accept, "2001:db8::/47")}, []uint16{7, 8, 10}},
	{"address accept, both families", []filter.Stage{addrStage(filter.Accept, "198.18.0.0/16", "2001:db8:2::/48")}, []uint16{1, 2, 3, 4, 6, 9}},
	// 8 and 10 are in the second IPv6 entry (conntrackd's program misses
	// them).
	{"address ignore, IPv6 list", []filter.Stage{addrStage(filter.Ignore, "2001:db8::1", "2001:db8:1::/48")}, []uint16{1, 2, 3, 4, 5, 6, 9}},
	// IPv6 events are not compared with IPv4 entries (conntrackd's
	// program drops them all here).
	{"address ignore, 5.0.1.0/24", []filter.Stage{addrStage(filter.Ignore, "5.0.1.0/24")}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	// 127 hosts need branches longer than 255 instructions.
	{"address accept, 127 hosts", []filter.Stage{addrStage(filter.Accept, ipv4Hosts(1, 127)...)}, []uint16{1, 3, 4, 6}},
	{"address ignore, 127 hosts", []filter.Stage{addrStage(filter.Ignore, ipv4Hosts(1, 127)...)}, []uint16{5, 7, 8, 9, 10}},
	{"address accept, 20 IPv6 networks", []filter.Stage{addrStage(filter.Accept, append(seq("2001:db8:%x::/48", 3, 21), "2001:db8:2::/48")...)}, []uint16{9}},
	{"chain", []filter.Stage{
		protoStage(filter.Accept, 6),
		addrStage(filter.Ignore, "198.19.0.0/16"),
		stateStage(filter.Accept, established),
	}, []uint16{1, 6, 7}},
}

// defectCases run conntrackd's programs (testdata/*.strace) next to
// Compile's for the same settings, on an entry where they differ: the
// defects the package comment lists.
var defectCases = []struct {
	golden     string
	settings   filter.Settings
	entry      uint16
	conntrackd bool // the entry passes conntrackd's program
	ours       bool
}{
	// Ignore 2001:db8:1::/48, the second IPv6 entry: only addresses that
	// share the first entry's first 96 bits reach it.
	{"mixed", goldenSettings["mixed"], 10, true, false},
	// Accept 198.18.0.0/15 and 2001:db8::/32: the IPv4 destination lookup
	// escapes the IPv6 tuple and drops the flow.
	{"inverse", goldenSettings["inverse"], 7, false, true},
	// Accept 198.18.0.1 to .127: wrapped jumps drop listed hosts.
	{"ipv4-127", filter.Settings{Stages: []filter.Stage{addrStage(filter.Accept, ipv4Hosts(1, 127)...)}}, 1, false, true},
}

// specPass is the package comment's definition of the kernel filter, for
// IPv4 and IPv6 flows.
func specPass(s filter.Settings, f filter.Flow) bool {
	for _, st := range s.Stages {
		ignore := st.Policy == filter.Ignore
		switch st.Kind {
		case filter.KindProtocol:
			if slices.Contains(st.Protocols, f.Protocol) == ignore {
				return false
			}
		case filter.KindTCPState:
			if f.Protocol == 6 && f.HasTCPState && slices.Contains(st.TCPStates, f.TCPState) == ignore {
				return false
			}
		case filter.KindAddress:
			var inSrc, inDst, listed bool
			for _, p := range st.Prefixes {
				if p.Addr().Is4() != f.OrigSrc.Is4() {
					continue
				}
				listed = true
				inSrc = inSrc || p.Masked().Contains(f.OrigSrc)
				inDst = inDst || p.Masked().Contains(f.OrigDst)
			}
			switch {
			case !listed:
				if !ignore {
					return false
				}
			case ignore && (inSrc || inDst), !ignore && !(inSrc && inDst):
				return false
			}
		}
	}
	return true
}
