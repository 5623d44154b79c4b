package cache_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link/wire"
)

// BenchmarkResyncEncode1M is the cache side of a bulk send after a
// resync request: read each of a million cached flows and encode it as a
// sync message into datagram-sized buffers. conntrackd 1.4.7 takes about
// 1.24 s for this; the target is under half. The conversion here is a
// plain field copy standing in for the engine's.
func BenchmarkResyncEncode1M(b *testing.B) {
	const n = 1 << 20
	c, err := cache.NewFlows(cache.Settings{Buckets: 65536, Limit: n})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i := range n {
		f := cache.Flow{
			Orig: cache.Tuple{
				Src:   netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}),
				Dst:   netip.AddrFrom4([4]byte{198, 19, byte(i), 1}),
				Proto: 6, SrcPort: uint16(i), DstPort: 443,
			},
			Has:    cache.HasStatus | cache.HasTimeout | cache.HasTCPState | cache.HasTCPWScale,
			Status: 0x18e, Timeout: 432000, TCPState: 3, TCPWScaleOrig: 7, TCPWScaleReply: 7,
		}
		if _, o := c.Update(&f, now); o != cache.Created {
			b.Fatal(o)
		}
	}
	buf := make([]byte, 0, 65536)
	var m wire.Message
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sent := 0
		for _, e := range c.All() {
			toWire(e, &m)
			buf = wire.AppendMessage(buf, &m)
			if len(buf) > 65536-512 {
				sent += len(buf)
				buf = buf[:0]
			}
		}
		if sent == 0 {
			b.Fatal("nothing encoded")
		}
	}
}

func toWire(e *cache.Entry, m *wire.Message) {
	f := &e.Flow
	m.Header = wire.Header{Type: wire.TypeCTNew}
	if e.State == cache.Alive {
		m.Header.Type = wire.TypeCTUpdate
	}
	w := &m.Flow
	*w = wire.Flow{
		Orig:   wire.Tuple{Src: f.Orig.Src, Dst: f.Orig.Dst, SrcPort: f.Orig.SrcPort, DstPort: f.Orig.DstPort, Proto: f.Orig.Proto},
		Status: f.Status, Timeout: f.Timeout,
		TCPState: f.TCPState, TCPWScaleOrig: f.TCPWScaleOrig, TCPWScaleReply: f.TCPWScaleReply,
	}
	w.Set(wire.AttrIPv4)
	w.Set(wire.AttrL4Proto)
	w.Set(wire.AttrPort)
	w.Set(wire.AttrStatus)
	w.Set(wire.AttrTimeout)
	w.Set(wire.AttrTCPState)
	w.Set(wire.AttrTCPWScaleOrig)
	w.Set(wire.AttrTCPWScaleRepl)
}
