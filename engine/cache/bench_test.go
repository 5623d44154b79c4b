package cache

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// benchFlow is a typical firewall flow: an established TCP connection
// with status, timeout and mark, no NAT.
func benchFlow(i int) Flow {
	return Flow{
		Orig: Tuple{
			Src:     netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}),
			Dst:     netip.AddrFrom4([4]byte{198, 19, byte(i), 1}),
			Proto:   6,
			SrcPort: uint16(1024 + i%60000), DstPort: 443,
		},
		Has:      HasStatus | HasTimeout | HasMark | HasTCPState | HasTCPWScale,
		Status:   0x18e,
		Timeout:  432000,
		Mark:     uint32(i),
		TCPState: 3, TCPWScaleOrig: 7, TCPWScaleReply: 7,
	}
}

var epoch = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func filled(b *testing.B, n int, mod func(*Flow)) *Flows {
	c, err := NewFlows(Settings{Buckets: 65536, Limit: 2 * n})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		f := benchFlow(i)
		if mod != nil {
			mod(&f)
		}
		if _, o := c.Update(&f, epoch); o != Created {
			b.Fatalf("flow %d: %v", i, o)
		}
	}
	return c
}

// BenchmarkUpdateExisting is the hot path: an UPDATE event for a cached
// flow. It must not allocate.
func BenchmarkUpdateExisting(b *testing.B) {
	const n = 1 << 20
	c := filled(b, n, nil)
	flows := make([]Flow, 4096)
	for i := range flows {
		flows[i] = benchFlow(i * 251 % n)
	}
	now := epoch
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := &flows[i%len(flows)]
		f.Timeout++
		if _, o := c.Update(f, now); o != Updated {
			b.Fatal(o)
		}
	}
}

// BenchmarkInsertNew creates flows in a cache that already holds a million.
func BenchmarkInsertNew(b *testing.B) {
	const n = 1 << 20
	c := filled(b, n, nil)
	b.ReportAllocs()
	b.ResetTimer()
	i := n
	for b.Loop() {
		f := benchFlow(i)
		f.Orig.Dst = netip.AddrFrom4([4]byte{203, 0, 113, byte(i >> 24)})
		if _, o := c.Replace(&f, epoch); o != Created {
			b.Fatal(o)
		}
		if c.Len() >= 2*n-1 {
			b.StopTimer()
			c.Flush()
			b.StartTimer()
		}
		i++
	}
}

// BenchmarkIterate1M is the cache side of a resync or bulk send: read
// every one of a million objects in its full form.
func BenchmarkIterate1M(b *testing.B) {
	const n = 1 << 20
	c := filled(b, n, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		seen := 0
		var sum uint32
		for _, e := range c.All() {
			seen++
			sum += e.Flow.Mark
		}
		if seen != n {
			b.Fatal(seen)
		}
	}
}

// BenchmarkMemoryPerFlow measures the heap a million cached flows take,
// index included, as bytes per entry, for plain flows and for NATed
// flows with a helper (the side slabs).
func BenchmarkMemoryPerFlow(b *testing.B) {
	for _, tc := range []struct {
		name string
		mod  func(*Flow)
	}{
		{"plain", nil},
		{"nat", func(f *Flow) {
			f.Has |= HasSNAT | HasSNATPort
			f.SNAT = netip.AddrFrom4([4]byte{203, 0, 113, 1})
			f.SNATPort = f.Orig.SrcPort
		}},
		{"ipv6+nat+helper", func(f *Flow) {
			a := f.Orig.Src.As4()
			f.Orig.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: a[0], 13: a[1], 14: a[2], 15: a[3]})
			f.Orig.Dst = netip.MustParseAddr("2001:db8::1")
			f.Has |= HasDNAT | HasHelper
			f.DNAT = netip.MustParseAddr("2001:db8::2")
			f.Helper = MakeName("ftp")
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 1_000_000
			var perEntry float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c := filled(b, n, tc.mod)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perEntry, "B/entry")
		})
	}
}

// BenchmarkChurn is a short flow's life in a full-sized cache: NEW, then
// DESTROY, then removal once its DEL went out. In steady state the slots
// and side records are reused, so it does not allocate.
func BenchmarkChurn(b *testing.B) {
	const n = 1 << 20
	c := filled(b, n, nil)
	f := benchFlow(0)
	f.Orig.Dst = netip.MustParseAddr("203.0.113.1")
	f.Has |= HasSNAT
	f.SNAT = netip.MustParseAddr("203.0.113.2")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.Orig.SrcPort = uint16(i)
		r, o := c.Replace(&f, epoch)
		if o != Created {
			b.Fatal(o)
		}
		c.Kill(f.Key())
		c.Remove(r)
	}
}
