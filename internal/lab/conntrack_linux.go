package lab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// syntheticRange carries no traffic anywhere (RFC 2544 benchmarking
// addresses), so entries made up in it can never match a real packet.
var syntheticRange = netip.MustParsePrefix("198.18.0.0/15")

// Entry is a conntrack entry to create with "conntrack -I".
type Entry struct {
	Proto      string // "tcp" or "udp"
	Src, Dst   netip.Addr
	SPort      uint16
	DPort      uint16
	State      string // TCP state, e.g. "ESTABLISHED"
	TimeoutSec int    // 0: 600
}

// Synthetic returns the i-th (0 to 65535) of a family of made-up
// established TCP entries from 198.18.0.0/16 to 198.19.0.0/16, distinct
// for each i. They carry no traffic: a sync test can create thousands.
func Synthetic(i int) Entry {
	src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	dst := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
	return Entry{Proto: "tcp", Src: src, Dst: dst, SPort: uint16(10000 + i%50000), DPort: 80, State: "ESTABLISHED"}
}

// Args returns e as conntrack(8) arguments.
func (e Entry) Args() []string {
	timeout := e.TimeoutSec
	if timeout == 0 {
		timeout = 600
	}
	args := []string{"-p", e.Proto, "-s", e.Src.String(), "-d", e.Dst.String(),
		"--sport", strconv.Itoa(int(e.SPort)), "--dport", strconv.Itoa(int(e.DPort)),
		"-t", strconv.Itoa(timeout)}
	if e.State != "" {
		args = append(args, "--state", e.State)
	}
	return args
}

// Match returns the conntrack -L arguments selecting e's flow.
func (e Entry) Match() []string {
	fam := "ipv4"
	if e.Src.Is6() {
		fam = "ipv6"
	}
	return []string{"-f", fam, "-p", e.Proto, "-s", e.Src.String(), "-d", e.Dst.String(),
		"--sport", strconv.Itoa(int(e.SPort)), "--dport", strconv.Itoa(int(e.DPort))}
}

// syntheticOK reports whether a is an address a made-up entry may use:
// one that carries no traffic or one of the lab's own ranges.
func syntheticOK(a netip.Addr) bool {
	for _, p := range []netip.Prefix{syntheticRange,
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")} {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Insert creates entries in n's conntrack table.
func (n *Node) Insert(t T, entries ...Entry) {
	t.Helper()
	for _, e := range entries {
		if !syntheticOK(e.Src) || !syntheticOK(e.Dst) {
			t.Fatalf("entry %s -> %s: made-up entries stay in %s or the documentation ranges", e.Src, e.Dst, syntheticRange)
		}
		n.Exec(t, "conntrack", append([]string{"-I"}, e.Args()...)...)
	}
}

// Conntrack runs conntrack(8) in n and returns its standard output (the
// entries, without the summary line it writes to standard error).
func (n *Node) Conntrack(t T, args ...string) string {
	t.Helper()
	cmd := n.Command("conntrack", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("conntrack %s in %s (%s): %v: %s", strings.Join(args, " "), n.Role, n.Name, err, stderr.String())
	}
	return string(out)
}

// Entries lists n's conntrack entries matching the conntrack -L filter
// args (none: all), one line each. A filter matching nothing is not an
// error: conntrack exits 0 and the list is empty.
func (n *Node) Entries(t T, args ...string) []string {
	t.Helper()
	args = append([]string{"-L"}, args...)
	if !hasFamily(args) {
		// conntrack -L lists IPv4 alone unless told otherwise; the lab
		// wants both.
		v4 := n.Entries(t, append(args[1:], "-f", "ipv4")...)
		return append(v4, n.Entries(t, append(args[1:], "-f", "ipv6")...)...)
	}
	var lines []string
	for _, l := range strings.Split(n.Conntrack(t, args...), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func hasFamily(args []string) bool {
	for _, a := range args {
		if a == "-f" || a == "--family" {
			return true
		}
	}
	return false
}

// Count returns the number of entries in n's conntrack table, of every
// family (conntrack -C).
func (n *Node) Count(t T) int {
	t.Helper()
	out := strings.TrimSpace(n.Conntrack(t, "-C"))
	c, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("conntrack -C in %s: %q is not a count", n.Role, out)
	}
	return c
}

// ConnMatch returns the conntrack -L arguments selecting c's flow in a
// firewall's table, by its client-side tuple.
func (c *Conn) ConnMatch() []string {
	fam := "ipv4"
	if c.Family == IPv6 {
		fam = "ipv6"
	}
	return []string{"-f", fam, "-p", "tcp", "--orig-src", c.Local.Addr().String(),
		"--sport", strconv.Itoa(int(c.Local.Port())), "--dport", strconv.Itoa(EchoPort)}
}

// String names c by its client-side tuple.
func (c *Conn) String() string { return fmt.Sprintf("%s -> %s", c.Local, c.RemoteAddr()) }
