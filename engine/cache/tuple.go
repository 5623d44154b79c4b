package cache

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Tuple is one direction of a flow: addresses, layer 4 protocol and ports
// (or, for ICMP and ICMPv6, identifier, type and code). Addresses keep
// their form (IPv4, IPv6 or IPv4-mapped IPv6) but not an IPv6 zone.
type Tuple struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ICMPID           uint16
	ICMPType         uint8
	ICMPCode         uint8
}

// tkey is a Tuple without pointers, so that the slabs holding a million
// of them are not scanned by the garbage collector.
type tkey struct {
	src, dst     [16]byte
	sport, dport uint16
	icmpID       uint16
	icmpType     uint8
	icmpCode     uint8
	proto        uint8
	fams         uint8 // source family | destination family<<4: famNone, fam4, fam6
}

const (
	famNone = iota
	fam4
	fam6
)

func family(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return fam4
	case a.Is6():
		return fam6
	}
	return famNone
}

func addrOf(b *[16]byte, fam uint8) netip.Addr {
	switch fam {
	case fam4:
		return netip.AddrFrom4([4]byte(b[12:]))
	case fam6:
		return netip.AddrFrom16(*b)
	}
	return netip.Addr{}
}

func packTuple(t *Tuple) tkey {
	return tkey{
		src: t.Src.As16(), dst: t.Dst.As16(),
		sport: t.SrcPort, dport: t.DstPort,
		icmpID: t.ICMPID, icmpType: t.ICMPType, icmpCode: t.ICMPCode,
		proto: t.Proto,
		fams:  family(t.Src) | family(t.Dst)<<4,
	}
}

// tuple undoes packTuple exactly: the zero Tuple packs to zeros and back.
func (k *tkey) tuple() Tuple {
	return Tuple{
		Src: addrOf(&k.src, k.fams&0xf), Dst: addrOf(&k.dst, k.fams>>4),
		Proto:   k.proto,
		SrcPort: k.sport, DstPort: k.dport,
		ICMPID: k.icmpID, ICMPType: k.icmpType, ICMPCode: k.icmpCode,
	}
}

// words folds the tuple into 64-bit words for hashing.
func (k *tkey) words() (a, b, c, d, e uint64) {
	a = binary.LittleEndian.Uint64(k.src[:8])
	b = binary.LittleEndian.Uint64(k.src[8:])
	c = binary.LittleEndian.Uint64(k.dst[:8])
	d = binary.LittleEndian.Uint64(k.dst[8:])
	e = uint64(k.sport) | uint64(k.dport)<<16 | uint64(k.icmpID)<<32 |
		uint64(k.icmpType)<<48 | uint64(k.icmpCode)<<56
	return
}

func (k *tkey) small() uint64 {
	return uint64(k.proto) | uint64(k.fams)<<8
}

func (k *tkey) compare(o *tkey) int {
	if c := cmp.Compare(k.fams&0xf, o.fams&0xf); c != 0 {
		return c
	}
	if c := cmp.Compare(k.fams>>4, o.fams>>4); c != 0 {
		return c
	}
	for i := range k.src {
		if c := cmp.Compare(k.src[i], o.src[i]); c != 0 {
			return c
		}
	}
	for i := range k.dst {
		if c := cmp.Compare(k.dst[i], o.dst[i]); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(k.proto, o.proto); c != 0 {
		return c
	}
	if c := cmp.Compare(k.sport, o.sport); c != 0 {
		return c
	}
	if c := cmp.Compare(k.dport, o.dport); c != 0 {
		return c
	}
	if c := cmp.Compare(k.icmpType, o.icmpType); c != 0 {
		return c
	}
	if c := cmp.Compare(k.icmpCode, o.icmpCode); c != 0 {
		return c
	}
	return cmp.Compare(k.icmpID, o.icmpID)
}

// Mixing constants of wyhash; the per-cache random seed keeps a peer or a
// local user from choosing tuples that all land in one probe run.
const (
	p0 = 0xa0761d6478bd642f
	p1 = 0xe7037ed1a0b428db
	p2 = 0x8ebc6af09c88c6e3
	p3 = 0x589965cc75374cc3
)

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func hashWords(seed, a, b, c, d, e, f uint64) uint64 {
	h := mum(a^seed^p0, b^p1) ^ mum(c^seed^p2, d^p3)
	return mum(h^e^p1, f^seed^p0)
}

// Name is a short name (conntrack helper, expectation function) kept
// inline, so that reading an entry does not allocate. Names longer than
// 31 bytes are cut, as on the sync wire.
type Name struct {
	n uint8
	b [31]byte
}

// MakeName returns s as a Name, cut to 31 bytes.
func MakeName(s string) Name {
	var n Name
	n.n = uint8(copy(n.b[:], s))
	return n
}

// Bytes returns the name; the slice aliases n.
func (n *Name) Bytes() []byte { return n.b[:n.n] }

// Len is the length of the name in bytes.
func (n Name) Len() int { return int(n.n) }

func (n Name) String() string { return string(n.b[:n.n]) }
