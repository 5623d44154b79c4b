package filter

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// AddrSet is a set of IPv4 and IPv6 prefixes with a lookup that costs
// O(log n) and no allocation.
//
// Each prefix is the range of addresses [first, last]; two prefixes either
// nest or are disjoint, so the ranges merge into a sorted list of disjoint
// intervals, and a lookup is one binary search per family. Hosts are ranges
// of one address, so exact entries and networks share the structure: with
// 10,000 entries a lookup is about 14 comparisons, the same cost as the hash
// probe plus network scan conntrackd does (src/filter.c keeps hosts in a hash
// table and scans networks linearly, which is slow for long network lists).
type AddrSet struct {
	v4 []span4
	v6 []span6
}

type span4 struct{ first, last uint32 }

// u128 is an IPv6 address as a 128-bit number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

type span6 struct{ first, last u128 }

// NewAddrSet builds the set. IPv4-mapped IPv6 prefixes (::ffff:0:0/96)
// stay IPv6 entries, as in conntrackd, where they come from IPv6_address
// lines and are compared with IPv6 flows only.
func NewAddrSet(prefixes []netip.Prefix) (*AddrSet, error) {
	s := &AddrSet{}
	for _, p := range prefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("invalid prefix %v", p)
		}
		p = p.Masked()
		if p.Addr().Is4() {
			first := v4(p.Addr())
			// A shift by 32 is 0 in Go, so /0 gives the whole space.
			last := first | (1<<(32-p.Bits()) - 1)
			s.v4 = append(s.v4, span4{first, last})
			continue
		}
		first := v6(p.Addr())
		last := first
		switch host := 128 - p.Bits(); {
		case host >= 64:
			last.lo = ^uint64(0)
			if host == 128 {
				last.hi = ^uint64(0)
			} else {
				last.hi |= 1<<(host-64) - 1
			}
		case host > 0:
			last.lo |= 1<<host - 1
		}
		s.v6 = append(s.v6, span6{first, last})
	}
	slices.SortFunc(s.v4, func(a, b span4) int { return cmp.Compare(a.first, b.first) })
	slices.SortFunc(s.v6, func(a, b span6) int {
		switch {
		case a.first.less(b.first):
			return -1
		case b.first.less(a.first):
			return 1
		}
		return 0
	})
	s.v4 = merge4(s.v4)
	s.v6 = merge6(s.v6)
	return s, nil
}

// merge4 folds sorted spans into disjoint ones: a span that starts inside
// the previous one is inside it (prefixes nest), or extends it.
func merge4(in []span4) []span4 {
	out := in[:0]
	for _, sp := range in {
		if n := len(out); n > 0 && sp.first <= out[n-1].last {
			out[n-1].last = max(out[n-1].last, sp.last)
			continue
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

func merge6(in []span6) []span6 {
	out := in[:0]
	for _, sp := range in {
		if n := len(out); n > 0 && !out[n-1].last.less(sp.first) {
			if out[n-1].last.less(sp.last) {
				out[n-1].last = sp.last
			}
			continue
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// Contains reports whether a is in the set. An IPv4 address is looked up
// among the IPv4 entries only and an IPv6 address (IPv4-mapped included)
// among the IPv6 entries only.
func (s *AddrSet) Contains(a netip.Addr) bool {
	switch {
	case a.Is4():
		return s.has4(v4(a))
	case a.Is6():
		return s.has6(v6(a))
	}
	return false
}

// contains looks a up as an address of family: conntrackd reads a flow's
// addresses by its layer-3 protocol, so an address of the other family
// (which a well-formed flow never has) is not in the set.
func (s *AddrSet) contains(family uint8, a netip.Addr) bool {
	switch {
	case family == FamilyInet && a.Is4():
		return s.has4(v4(a))
	case family == FamilyInet6 && a.Is6():
		return s.has6(v6(a))
	}
	return false
}

func (s *AddrSet) has4(x uint32) bool {
	// The last span that starts at or before x is the only one that can
	// hold it.
	lo, hi := 0, len(s.v4)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.v4[m].first <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && x <= s.v4[lo-1].last
}

func (s *AddrSet) has6(x u128) bool {
	lo, hi := 0, len(s.v6)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(s.v6[m].first) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !s.v6[lo-1].last.less(x)
}
