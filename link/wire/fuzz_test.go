package wire

import (
	"bytes"
	"testing"
)

// FuzzDecode: decoding never panics, and whatever decodes re-encodes to
// bytes that decode to the same message and encode to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, dgs := range loadFixtures(f) {
		for _, d := range dgs {
			f.Add(d.payload)
		}
	}
	f.Add(h("1a080010 00000001 00000002 00000003"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off < len(b); {
			var m Message
			n, err := Decode(b[off:], &m)
			if err != nil {
				return
			}
			if n < HeaderLen || n > len(b)-off {
				t.Fatalf("consumed %d of %d", n, len(b)-off)
			}
			off += n
			enc := AppendMessage(nil, &m)
			var m2 Message
			n2, err := Decode(enc, &m2)
			if err != nil {
				t.Fatalf("re-decode: %v\n%s", err, hexRows(enc))
			}
			if n2 != len(enc) {
				t.Fatalf("re-decode consumed %d of %d", n2, len(enc))
			}
			m.Len = m2.Len
			if m != m2 {
				t.Fatalf("decode->encode->decode changed the message\nfirst  %+v\nsecond %+v", m, m2)
			}
			if enc2 := AppendMessage(nil, &m2); !bytes.Equal(enc, enc2) {
				t.Fatalf("encode not stable\n%s", diffRows(enc, enc2))
			}
		}
	})
}
