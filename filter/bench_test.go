package filter

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bigAddressChain is a protocol stage, an address stage of n entries (hosts
// and networks of both families, as a large ignore list looks) and a TCP
// state stage.
func bigAddressChain(b *testing.B, n int) (*Chain, []Flow) {
	r := rand.New(rand.NewPCG(7, 7))
	ps := make([]netip.Prefix, 0, n)
	for i := range n {
		switch i % 4 {
		case 0, 1: // IPv4 hosts
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(256)), byte(r.IntN(256))}), 32))
		case 2: // IPv4 networks
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24+r.IntN(8)).Masked())
		case 3: // IPv6 hosts and networks
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			a[4], a[5], a[15] = byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(a), []int{128, 64, 48}[r.IntN(3)]).Masked())
		}
	}
	c, err := New(Settings{Stages: []Stage{
		{Kind: KindProtocol, Policy: Accept, Protocols: []uint8{6, 17, 132}},
		{Kind: KindAddress, Policy: Ignore, Prefixes: ps},
		{Kind: KindTCPState, Policy: Ignore, TCPStates: []TCPState{synSent}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	flows := make([]Flow, 1024)
	for i := range flows {
		f := &flows[i]
		f.Protocol, f.TCPState, f.HasTCPState = ProtoTCP, established, true
		if i%4 == 3 {
			f.Family = FamilyInet6
			var s, d [16]byte
			s[0], s[1], s[2], s[3], s[4], s[5], s[15] = 0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
			d = s
			d[15]++
			f.OrigSrc, f.ReplySrc = netip.AddrFrom16(s), netip.AddrFrom16(d)
		} else {
			f.Family = FamilyInet
			f.OrigSrc = netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(256)), byte(r.IntN(256))})
			f.ReplySrc = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		// Every other flow comes from a listed entry, so hits and misses
		// are both timed.
		if i%2 == 0 {
			for {
				p := ps[r.IntN(len(ps))]
				if p.Addr().Is4() == (f.Family == FamilyInet) {
					f.OrigSrc = p.Addr()
					break
				}
			}
		}
		f.OrigDst = f.ReplySrc
	}
	return c, flows
}

// BenchmarkPass is a chain whose address stage has 10, 1,000 and 10,000
// entries; kept/op is the share of flows that pass.
func BenchmarkPass(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("addresses=%d", n), func(b *testing.B) {
			c, flows := bigAddressChain(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			kept := 0
			for i := 0; b.Loop(); i++ {
				if c.Pass(&flows[i%len(flows)]) {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
	}
}

func BenchmarkNewAddrSet10k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	ps := randPrefixes(r, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewAddrSet(ps); err != nil {
			b.Fatal(err)
		}
	}
}
