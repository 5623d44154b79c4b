package filter

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestAddrSetContains(t *testing.T) {
	set, err := NewAddrSet(pfx(
		"192.0.2.0/24", "192.0.2.128/25", // nested: merged
		"198.51.100.7",
		"203.0.113.0/31", "203.0.113.2/31", // adjacent
		"10.1.2.3/8", // host bits set: the network counts
		"2001:db8::/64", "2001:db8:0:1::/64",
		"2001:db8:1234::1",
		"2001:db8:8000::/33",
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.0", true}, {"192.0.2.255", true}, {"192.0.3.0", false}, {"192.0.1.255", false},
		{"198.51.100.7", true}, {"198.51.100.6", false}, {"198.51.100.8", false},
		{"203.0.113.0", true}, {"203.0.113.3", true}, {"203.0.113.4", false},
		{"10.0.0.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false}, {"9.255.255.255", false},
		{"2001:db8::", true}, {"2001:db8::ffff:ffff:ffff:ffff", true}, {"2001:db8:0:1:ffff::", true},
		{"2001:db8:0:2::", false}, {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db8:1234::1", true}, {"2001:db8:1234::2", false}, {"2001:db8:ffff::", true},
		{"2001:db8:7fff:ffff::", false},
		// Families do not mix: the IPv4-mapped form of a listed IPv4
		// address is not listed.
		{"::ffff:192.0.2.1", false},
		{"0.0.0.0", false}, {"255.255.255.255", false}, {"::", false},
	}
	for _, tt := range tests {
		if got := set.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if set.Contains(netip.Addr{}) {
		t.Error("the zero Addr is in the set")
	}
}

func TestAddrSetWholeSpace(t *testing.T) {
	set, err := NewAddrSet(pfx("0.0.0.0/0", "::/0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:1.2.3.4"} {
		if !set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is not in 0.0.0.0/0 + ::/0", a)
		}
	}
}

// naiveContains is the specification: any prefix of the address's family
// contains it.
func naiveContains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Addr().Is4() == a.Is4() && p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

// randPrefixes draws prefixes clustered in a small space, so that nesting,
// adjacency and overlap are common.
func randPrefixes(r *rand.Rand, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = randPrefix(r)
	}
	return out
}

func randPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(2) == 0 {
		b := [4]byte{198, 51, byte(r.IntN(4)), byte(r.IntN(256))}
		return netip.PrefixFrom(netip.AddrFrom4(b), 20+r.IntN(13))
	}
	var b [16]byte
	b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
	b[7] = byte(r.IntN(4))
	b[15] = byte(r.IntN(256))
	bits := []int{0, 32, 56, 63, 64, 65, 100, 120, 127, 128}[r.IntN(10)]
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}

func randAddr(r *rand.Rand) netip.Addr {
	p := randPrefix(r)
	b := p.Addr().AsSlice()
	b[len(b)-1] ^= byte(r.IntN(4))
	if r.IntN(3) == 0 {
		b[len(b)-2] ^= byte(r.IntN(256))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestAddrSetMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		ps := randPrefixes(r, 1+r.IntN(40))
		set, err := NewAddrSet(ps)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			a := randAddr(r)
			if got, want := set.Contains(a), naiveContains(ps, a); got != want {
				t.Fatalf("round %d: Contains(%s) = %v, want %v; prefixes %v", round, a, got, want, ps)
			}
		}
	}
}

// FuzzAddrSet checks the interval set against the naive definition for
// prefixes and addresses drawn from the fuzzer's bytes.
func FuzzAddrSet(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0, 24, 192, 0, 2, 128, 25}, []byte{192, 0, 2, 200})
	f.Add([]byte{0, 0, 0, 0, 0}, []byte{255, 255, 255, 255})
	f.Add(append(netip.MustParseAddr("2001:db8::").AsSlice(), 64), netip.MustParseAddr("2001:db8::1").AsSlice())
	f.Fuzz(func(t *testing.T, entries, addr []byte) {
		var ps []netip.Prefix
		// Entries: 4 bytes and a length for IPv4, or 16 bytes and a
		// length for IPv6 when the first byte is 0x20.
		for len(entries) >= 5 {
			n := 4
			if entries[0] == 0x20 && len(entries) >= 17 {
				n = 16
			}
			a, _ := netip.AddrFromSlice(entries[:n])
			ps = append(ps, netip.PrefixFrom(a, int(entries[n])%(a.BitLen()+1)))
			entries = entries[n+1:]
		}
		set, err := NewAddrSet(ps)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		if got, want := set.Contains(a), naiveContains(ps, a); got != want {
			t.Fatalf("Contains(%s) = %v, want %v; prefixes %v", a, got, want, ps)
		}
	})
}
