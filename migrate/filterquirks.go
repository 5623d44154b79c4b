package migrate

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/config"
)

// Where ctsync's filter deliberately differs from conntrackd 1.4.7's (the
// FilterDefects), the address lists of a legacy file are checked here, so
// that an operator who moves a cluster one node at a time knows that the
// two nodes will filter differently. docs/filter.md describes the
// differences, and the tests it names run conntrackd's own filters:
// TestAgainstConntrackd (package filter) for the user-space filter,
// TestConntrackdProgramDefects (filter/kbpf) for the kernel program.

// filterEntry is one valid IPv4_address or IPv6_address of a Filter Address
// block, as conntrackd hands it to the kernel filter (src/read_config_yy.y:
// every valid entry, repeated ones included, in the order read).
type filterEntry struct {
	prefix netip.Prefix
	text   string
	pos    config.Pos
}

// netmask4 is an element of conntrackd's user-space list of IPv4 networks
// (struct ct_filter_netmask_ipv4: address as written and mask, in network
// byte order), which the IPv6 duplicate check reads by mistake.
type netmask4 struct {
	bytes [8]byte
	entry filterEntry
}

// vectorMembers is the number of elements conntrackd's vector allocates
// zeroed at first (src/vector.c, DEFAULT_VECTOR_MEMBERS); it grows with
// realloc, whose new memory is not cleared.
const vectorMembers = 8

// recordFilterAddress notes a valid address of a filter list (conntrackd
// ignores the invalid ones entirely); network is conntrackd's test for a
// network rather than a host (a prefix length shorter than the address).
func (p *parser) recordFilterAddress(d *Directive, v Token, prefix netip.Prefix, network bool) {
	if !strings.HasPrefix(d.Path, "General.Filter.Address.") {
		return // IgnoreTrafficFor (before 1.4.5) takes hosts, in user space only
	}
	st := &p.st
	e := filterEntry{prefix: prefix, text: v.Text, pos: d.Pos}
	if prefix.Addr().Is4() {
		if network {
			// ct_filter_add_netmask keeps one copy of each network.
			var b [8]byte
			copy(b[:4], prefix.Addr().AsSlice())
			binary.BigEndian.PutUint32(b[4:], mask32(prefix.Bits()))
			dup := false
			for _, n := range st.netmasks4 {
				dup = dup || n.bytes == b
			}
			if !dup {
				st.netmasks4 = append(st.netmasks4, netmask4{bytes: b, entry: e})
			}
		}
		st.kernel4 = append(st.kernel4, e)
		return
	}
	if network {
		if m, lost := st.ipv6NetmaskLost(prefix); lost {
			p.quirk(d.Pos, "ipv6-netmask-duplicate",
				fmt.Sprintf("conntrackd 1.4.7 drops IPv6 network %s from its user-space filter, as if it repeated %s (line %d)", v.Text, m.entry.text, m.entry.pos.Line),
				"its duplicate check for IPv6 networks compares with the IPv4 network list (src/filter.c, ct_filter_add_netmask) and warns \"netmask ... is repeated\"; "+
					"ctsync keeps the network, so the two daemons filter the IPv6 flows it covers differently")
		}
	}
	st.kernel6 = append(st.kernel6, e)
}

// ipv6NetmaskLost reproduces conntrackd's duplicate check of an IPv6
// network: it compares the 32 bytes of struct ct_filter_netmask_ipv6
// (address as written, then mask) with the IPv4 list's memory from each
// element on, 8-byte elements, reading past the last one. That memory is
// known when it is an element, or zero when it lies in the vector's first
// zeroed allocation; past that it is unknown and no match is claimed. In
// practice ::/0 right after 0.0.0.0/0 matches.
func (s *legacyState) ipv6NetmaskLost(prefix netip.Prefix) (netmask4, bool) {
	var want [32]byte
	copy(want[:16], prefix.Addr().AsSlice())
	for k := range 4 {
		binary.BigEndian.PutUint32(want[16+4*k:], mask32(prefix.Bits()-32*k))
	}
	known := len(s.netmasks4)
	if known <= vectorMembers {
		known = vectorMembers
	}
	for i, m := range s.netmasks4 {
		if i+4 > known {
			break
		}
		match := true
		for j := range 4 {
			var elem [8]byte // zero past the last element
			if i+j < len(s.netmasks4) {
				elem = s.netmasks4[i+j].bytes
			}
			match = match && [8]byte(want[8*j:8*j+8]) == elem
		}
		if match {
			return m, true
		}
	}
	return netmask4{}, false
}

// mask32 is the 32-bit mask of the first bits of a word (clamped to 0..32).
func mask32(bits int) uint32 {
	switch {
	case bits <= 0:
		return 0
	case bits >= 32:
		return ^uint32(0)
	}
	return ^uint32(0) << (32 - bits)
}

// wrapIPv4 is the number of IPv4 entries from which conntrackd's kernel
// program misjudges listed addresses: each entry takes 3 instructions and
// the first entry's branch to the end of its section must cross the others
// (3*(n-1)+1 instructions), more than the 255 an 8-bit offset reaches, and
// libnetfilter_conntrack lets the offset wrap. (Branches taken only when an
// attribute is missing wrap from 82 entries, for events that always carry
// it.)
const wrapIPv4 = 86

// ipv6EventAsIPv4 is what conntrackd's kernel program compares with the
// IPv4 entries in an IPv6 event: the first bytes of the tuple's protocol
// nest, which its unbounded search for the IPv4 destination finds.
var ipv6EventAsIPv4 = netip.MustParseAddr("5.0.1.0")

// kernelFilterQuirks runs at the end of the file, when the Filter From
// choice (the last header wins) and the address list's policy (the last
// Address block wins) are known, and reports where conntrackd's kernel
// program judges events differently from ctsync's (filter/kbpf).
func (p *parser) kernelFilterQuirks() {
	st := &p.st
	if st.filterFrom == nil || st.filterFrom.Text != "Kernelspace" {
		return
	}
	pol, ok := st.setPolicy["General.Filter.Address"]
	if !ok || len(st.kernel4)+len(st.kernel6) == 0 {
		return
	}
	accept := pol.Text == "Accept"
	effect := func(missed string) string {
		if accept {
			return "with Address Accept conntrackd drops " + missed + " and ctsync replicates them"
		}
		return "with Address Ignore conntrackd replicates " + missed + " and ctsync ignores them"
	}

	if len(st.kernel4) >= wrapIPv4 {
		e := st.kernel4[wrapIPv4-1]
		p.quirk(e.pos, "kernel-ipv4-jumps",
			fmt.Sprintf("conntrackd's kernel filter misjudges listed addresses: this is IPv4 entry %d of the Address list", wrapIPv4),
			fmt.Sprintf("conntrackd 1.4.7's kernel program has %d IPv4 entries, too many for its 8-bit jumps, which wrap into the list; %s; ctsync's program uses long jumps",
				len(st.kernel4), effect("some flows of listed addresses")))
	}

	var holder *filterEntry
	for i := range st.kernel4 {
		if st.kernel4[i].prefix.Masked().Contains(ipv6EventAsIPv4) {
			holder = &st.kernel4[i]
			break
		}
	}
	switch {
	case accept && len(st.kernel4) > 0 && len(st.kernel6) > 0 && holder == nil:
		p.quirk(pol.Pos, "kernel-ipv6-as-ipv4", "conntrackd's kernel filter drops every IPv6 flow: this Address Accept list has IPv4 and IPv6 entries",
			"conntrackd 1.4.7's kernel program compares a field of each IPv6 event, read as 5.0.1.0, with the IPv4 entries, and none holds it; "+
				"ctsync compares IPv6 flows with the IPv6 entries only and replicates the listed ones")
	case !accept && holder != nil && !slices.ContainsFunc(st.kernel6, func(e filterEntry) bool { return e.prefix.Bits() == 0 }):
		// (With ::/0 listed, both ignore every IPv6 flow.)
		p.quirk(holder.pos, "kernel-ipv6-as-ipv4", fmt.Sprintf("conntrackd's kernel filter drops every IPv6 flow: %s holds 5.0.1.0", holder.text),
			"conntrackd 1.4.7's kernel program compares a field of each IPv6 event, read as 5.0.1.0, with the IPv4 entries; "+
				"ctsync ignores only the IPv6 flows of the IPv6 entries")
	case accept && len(st.kernel4) == 0:
		p.quirk(pol.Pos, "kernel-accept-family", "conntrackd's kernel filter passes every IPv4 event: this Address Accept list has no IPv4 entry",
			"ctsync drops IPv4 flows, as both daemons' user-space filters do (and judge kernel dumps); add IPv4 entries (0.0.0.0/0 for all) to replicate them")
	case accept && len(st.kernel6) == 0 && holder != nil:
		p.quirk(pol.Pos, "kernel-accept-family", "conntrackd's kernel filter passes every IPv6 event: this Address Accept list has no IPv6 entry, and "+holder.text+" holds 5.0.1.0",
			"conntrackd 1.4.7's kernel program compares a field of each IPv6 event, read as 5.0.1.0, with the IPv4 entries; "+
				"ctsync drops IPv6 flows, as both daemons' user-space filters do; add IPv6 entries (::/0 for all) to replicate them")
	}

	if j, i, ok := skippedIPv6(st.kernel6); ok {
		p.quirk(st.kernel6[j].pos, "kernel-ipv6-skip",
			fmt.Sprintf("conntrackd's kernel filter misses addresses of %s: they differ from %s (line %d) in its first 96 bits", st.kernel6[j].text, st.kernel6[i].text, st.kernel6[i].pos.Line),
			fmt.Sprintf("in conntrackd 1.4.7's kernel program such a mismatch ends the search of the IPv6 list; %s; ctsync tests every entry",
				effect("those flows")))
	}
}

// skippedIPv6 finds the first IPv6 entry j of the kernel list that holds
// addresses conntrackd's program never compares with it: in that program a
// mismatch in the first 96 (masked) bits of an entry i ends the search, so
// an entry is reached only by addresses that share those bits of every
// earlier entry. An entry wholly inside an earlier one adds nothing and is
// not reported.
func skippedIPv6(list []filterEntry) (j, i int, ok bool) {
	for j = 1; j < len(list); j++ {
		pj := list[j].prefix.Masked()
		covered := false
		for k := range j {
			covered = covered || within(pj, list[k].prefix.Masked())
		}
		if covered {
			continue
		}
		for i = range j {
			head := netip.PrefixFrom(list[i].prefix.Addr(), min(list[i].prefix.Bits(), 96)).Masked()
			if !within(pj, head) {
				return j, i, true
			}
		}
	}
	return 0, 0, false
}

// within reports whether prefix a lies inside prefix b.
func within(a, b netip.Prefix) bool {
	return a.Bits() >= b.Bits() && b.Contains(a.Addr())
}
