package cttsuite

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The suite's scenarios build their network in private address ranges
// (192.168.10.0/24 client side, 10.0.1.0/24 server side, 192.168.100.0/24
// between the two firewalls). Tests here send traffic only to the
// documentation ranges, so each range moves to one of those; the
// firewalls' link and the client side share 198.51.100.0/24, one half
// each, which the suite's few addresses (.1 to .3) fit.
type move struct {
	from, to netip.Prefix
}

var moves = []move{
	{netip.MustParsePrefix("192.168.10.0/24"), netip.MustParsePrefix("198.51.100.0/25")},
	{netip.MustParsePrefix("192.168.100.0/24"), netip.MustParsePrefix("198.51.100.128/25")},
	{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("203.0.113.0/24")},
}

// kept are the addresses the suite may use as they are: loopback (a
// scenario runs a daemon with its sync link on lo) and multicast groups
// (225.0.0.50, joined on that lo): neither reaches a network from the
// sandbox's namespaces.
var kept = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("224.0.0.0/4"),
}

// rewritten are the files whose addresses are rewritten: those the runner
// reads and the script a scenario runs. The runner itself has none.
var rewritten = map[string]bool{
	"scenarios.yaml":                   true,
	"tests.yaml":                       true,
	"scenarios/basic/network-setup.sh": true,
}

// edit is a change to the suite's text other than addresses, each for a
// reason of this machine's, matching exactly once so that a suite that
// changed under it fails loudly rather than running unadapted.
type edit struct {
	path, old, new string
}

var edits = []edit{
	// Kernel conntrack events in every namespace of the scenario, as
	// in every test namespace here (newer kernels default to 2,
	// events only while someone listens).
	{"scenarios/basic/network-setup.sh",
		"\tip netns add nsr2\n",
		"\tip netns add nsr2\n\tfor n in ns1 ns2 nsr1 nsr2; do ip netns exec $n sysctl -q net.netfilter.nf_conntrack_events=1; done\n"},
}

// adapt returns the file at path (relative to tests/conntrackd), adapted.
func adapt(path string, b []byte) ([]byte, error) {
	s := string(b)
	for _, e := range edits {
		if e.path != path {
			continue
		}
		if n := strings.Count(s, e.old); n != 1 {
			return nil, fmt.Errorf("%s: want %q once, found it %d times", path, e.old, n)
		}
		s = strings.Replace(s, e.old, e.new, 1)
	}
	if rewritten[path] {
		var err error
		if s, err = rewriteAddrs(s); err != nil {
			return nil, fmt.Errorf("%s:%w", path, err)
		}
	}
	return []byte(s), nil
}

// dotted matches runs of digits and dots, with a prefix length: an IPv4
// address is one with four parts (version numbers such as 1.4.7 are not).
var dotted = regexp.MustCompile(`[0-9][0-9.]*[0-9](/[0-9]+)?`)

// rewriteAddrs moves every IPv4 address (with its prefix length, if any)
// of s by moves, and fails on one it has no rule for, with its line and
// column.
func rewriteAddrs(s string) (string, error) {
	var out strings.Builder
	last := 0
	for _, loc := range dotted.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		addrText, bitsText, hasBits := strings.Cut(tok, "/")
		if strings.Count(addrText, ".") != 3 {
			continue
		}
		a, err := netip.ParseAddr(addrText)
		if err != nil {
			return "", fmt.Errorf("%s: %q: %v", position(s, loc[0]), tok, err)
		}
		repl, err := moveAddr(a, bitsText, hasBits)
		if err != nil {
			return "", fmt.Errorf("%s: %v", position(s, loc[0]), err)
		}
		out.WriteString(s[last:loc[0]])
		out.WriteString(repl)
		last = loc[1]
	}
	out.WriteString(s[last:])
	return out.String(), nil
}

func moveAddr(a netip.Addr, bitsText string, hasBits bool) (string, error) {
	for _, p := range kept {
		if p.Contains(a) {
			if hasBits {
				return a.String() + "/" + bitsText, nil
			}
			return a.String(), nil
		}
	}
	for _, m := range moves {
		if !m.from.Contains(a) {
			continue
		}
		off := u32(a) - u32(m.from.Addr())
		if off >= 1<<(32-m.to.Bits()) {
			return "", fmt.Errorf("address %s does not fit in %s, where %s moves", a, m.to, m.from)
		}
		moved := netip.AddrFrom4(b4(u32(m.to.Addr()) + off))
		if !hasBits {
			return moved.String(), nil
		}
		if bits, err := strconv.Atoi(bitsText); err != nil || bits != m.from.Bits() {
			return "", fmt.Errorf("%s/%s: a prefix length other than %s's", a, bitsText, m.from)
		}
		return fmt.Sprintf("%s/%d", moved, m.to.Bits()), nil
	}
	return "", fmt.Errorf("address %s is in none of the ranges the suite may use (%v, kept: %v): add a rule to moves", a, moveFroms(), kept)
}

func moveFroms() []netip.Prefix {
	var ps []netip.Prefix
	for _, m := range moves {
		ps = append(ps, m.from)
	}
	return ps
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func b4(v uint32) [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// position is s's line:col (1-based, col in bytes) at offset i.
func position(s string, i int) string {
	line := 1 + strings.Count(s[:i], "\n")
	col := i - strings.LastIndex(s[:i], "\n")
	return fmt.Sprintf("%d:%d", line, col)
}
