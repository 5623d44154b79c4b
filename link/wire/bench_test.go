package wire

import "testing"

// benchDatagram returns the captured datagram with the most conntrack
// messages, the hot path of a bulk resync.
func benchDatagram(b *testing.B) []byte {
	var best []byte
	bestN := 0
	for _, dgs := range loadFixtures(b) {
		for _, d := range dgs {
			n := 0
			for _, m := range decodeAll(b, d.payload) {
				if m.Type.IsCT() {
					n++
				}
			}
			if n > bestN {
				best, bestN = d.payload, n
			}
		}
	}
	return best
}

func BenchmarkDecode(b *testing.B) {
	dg := benchDatagram(b)
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		for off := 0; off < len(dg); {
			n, err := Decode(dg[off:], &m)
			if err != nil {
				b.Fatal(err)
			}
			off += n
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	dg := benchDatagram(b)
	msgs := decodeAll(b, dg)
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		buf = buf[:0]
		for i := range msgs {
			buf = AppendMessage(buf, &msgs[i])
		}
	}
	if len(buf) != len(dg) {
		b.Fatalf("encoded %d bytes, captured %d", len(buf), len(dg))
	}
}
