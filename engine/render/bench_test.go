package render

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// benchCache fills a cache with n flows of the usual kinds: TCP
// established, UDP, NATed TCP, IPv6.
func benchCache(b *testing.B, n int) *cache.Flows {
	c, err := cache.NewFlows(cache.Settings{Buckets: n, Limit: n})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)})
		f := cache.Flow{Orig: cache.Tuple{Src: a, Dst: netip.AddrFrom4([4]byte{198, 19, 0, 1}), Proto: 6,
			SrcPort: uint16(i), DstPort: 443}, Has: cache.HasStatus | cache.HasMark | cache.HasTimeout | cache.HasTCPState,
			Status: seenReplyAssured, Timeout: 431999, TCPState: 3}
		switch i % 4 {
		case 1:
			f.Orig.Proto, f.Has = 17, f.Has&^cache.HasTCPState
		case 2:
			f.Has |= cache.HasSNAT | cache.HasSNATPort
			f.SNAT, f.SNATPort = netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(i)
		case 3:
			f.Orig.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
			f.Orig.Dst = netip.MustParseAddr("2001:db8::1")
		}
		if _, o := c.Replace(&f, t0); o != cache.Created {
			b.Fatalf("flow %d: %v", i, o)
		}
	}
	return c
}

// benchDump renders every flow of c as a dump does: one reused buffer,
// written out (here: dropped) every 32 KiB as the control server does.
func benchDump(b *testing.B, c *cache.Flows, render func([]byte, *cache.Entry, time.Time) []byte) {
	buf := make([]byte, 0, 64<<10)
	now := t0.Add(time.Minute)
	var bytes int
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range c.All() {
			buf = render(buf, e, now)
			buf = append(buf, '\n')
			if len(buf) >= 32<<10 {
				bytes += len(buf)
				buf = buf[:0]
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.Len()), "ns/flow")
	b.ReportMetric(float64(bytes)/float64(b.N*c.Len()), "bytes/flow")
}

// BenchmarkDump1M: a dump of a million flows allocates nothing per flow
// (allocs/op is per dump of the whole cache).
func BenchmarkDump1M(b *testing.B) {
	c := benchCache(b, 1<<20)
	// The walk alone, to tell the cache's share from the rendering's.
	b.Run("walk", func(b *testing.B) { benchDump(b, c, func(b []byte, _ *cache.Entry, _ time.Time) []byte { return b }) })
	b.Run("text", func(b *testing.B) { benchDump(b, c, AppendFlowText) })
	b.Run("json", func(b *testing.B) { benchDump(b, c, AppendFlowJSON) })
}

// BenchmarkExpect: one expectation, text and JSON.
func BenchmarkExpect(b *testing.B) {
	e := cache.ExpEntry{Expect: cache.Expect{Tuple: tuple("198.18.0.1", "198.18.0.2", 6, 0, 4000),
		Has:  cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasHelper | cache.ExpHasClass,
		Mask: tuple("255.255.255.255", "255.255.255.255", 6, 0, 65535), Master: tuple("198.18.0.1", "198.18.0.2", 6, 3000, 21),
		Helper: cache.MakeName("ftp")}, Created: t0}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendExpectText(buf[:0], &e, t0)
		buf = AppendExpectJSON(buf[:0], &e, t0)
	}
}
