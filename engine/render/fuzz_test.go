package render

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// fuzzReader reads the fields of a cache entry of any shape from fuzz
// input (fuzzFlow): any protocol, family mix, attribute set, state
// number, status, name bytes and times; missing input reads as zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) bytes(n int) []byte {
	out := make([]byte, n)
	k := copy(out, r.b)
	r.b = r.b[k:]
	return out
}
func (r *fuzzReader) u8() uint8   { return r.bytes(1)[0] }
func (r *fuzzReader) u16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }
func (r *fuzzReader) u32() uint32 { return binary.BigEndian.Uint32(r.bytes(4)) }
func (r *fuzzReader) addr() netip.Addr {
	switch r.u8() % 3 {
	case 0:
		return netip.AddrFrom4([4]byte(r.bytes(4)))
	case 1:
		return netip.AddrFrom16([16]byte(r.bytes(16)))
	}
	return netip.Addr{}
}
func (r *fuzzReader) tuple() cache.Tuple {
	return cache.Tuple{Src: r.addr(), Dst: r.addr(), Proto: r.u8(), SrcPort: r.u16(), DstPort: r.u16(),
		ICMPID: r.u16(), ICMPType: r.u8(), ICMPCode: r.u8()}
}
func (r *fuzzReader) name() cache.Name { return cache.MakeName(string(r.bytes(int(r.u8() % 40)))) }
func (r *fuzzReader) time() time.Time {
	return time.Unix(int64(int32(r.u32())), 0)
}

func fuzzFlow(data []byte) (cache.Entry, cache.ExpEntry, time.Time) {
	r := &fuzzReader{data}
	f := cache.Flow{Orig: r.tuple(), Zone: r.u16(), Has: cache.Attrs(r.u32()), Status: r.u32(), Timeout: r.u32(), Mark: r.u32(),
		TCPState: r.u8(), TCPWScaleOrig: r.u8(), TCPWScaleReply: r.u8(), SCTPState: r.u8(), SCTPVTagOrig: r.u32(),
		DCCPState: r.u8(), DCCPRole: r.u8(), Master: r.tuple(), SNAT: r.addr(), DNAT: r.addr(), SNATPort: r.u16(), DNATPort: r.u16(),
		Helper: r.name(), Labels: [16]byte(r.bytes(16))}
	x := cache.Expect{Tuple: r.tuple(), Zone: r.u16(), Has: cache.ExpAttrs(r.u16()), Master: r.tuple(), Mask: r.tuple(), NAT: r.tuple(),
		Timeout: r.u32(), Flags: r.u32(), Class: r.u32(), NATDir: r.u32(), Helper: r.name(), Fn: r.name()}
	created, updated, now := r.time(), r.time(), r.time()
	st := cache.State(r.u8() % 4)
	return cache.Entry{Flow: f, State: st, Created: created, Updated: updated},
		cache.ExpEntry{Expect: x, State: st, Created: created, Updated: updated}, now
}

// FuzzRender: any cache entry renders to one line of text, with no
// control byte, and to one valid JSON object whose tuples name the
// entry's addresses.
func FuzzRender(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 300))
	f.Add(bytes.Repeat([]byte{0x01, 0x06, 0x80}, 100))
	f.Add([]byte("\x00\xc6\x12\x00\x01\x00\xc6\x12\x00\x02\x06\x03\xe8\x00\x50\x00\x00\x00\x00\x00\x05\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, x, now := fuzzFlow(data)
		lines := [][]byte{
			AppendFlowText(nil, &e, now),
			AppendFlowTextExpiring(nil, &e, now, time.Duration(e.Flow.Timeout)*time.Second),
			AppendExpectText(nil, &x, now),
			AppendEndedText(nil, &Ended{Flow: e.Flow, HasCounters: e.Flow.Mark&1 != 0,
				Orig: Traffic{uint64(e.Flow.Timeout), uint64(e.Flow.Status)}, Start: e.Created, Stop: e.Updated}, now),
		}
		for _, l := range lines {
			for _, c := range l {
				if c < ' ' || c == 0x7f {
					t.Fatalf("control byte %#x in %q", c, l)
				}
			}
		}
		for _, j := range [][]byte{
			AppendFlowJSON(nil, &e, now),
			AppendFlowJSONExpiring(nil, &e, now, time.Hour),
			AppendExpectJSON(nil, &x, now),
		} {
			if !json.Valid(j) || bytes.IndexByte(j, '\n') >= 0 {
				t.Fatalf("not one line of JSON: %s", j)
			}
			if k := duplicateKey(j); k != "" {
				t.Fatalf("key %q twice in one object: %s", k, j)
			}
		}
		var got struct {
			Orig struct{ Src, Dst string }
		}
		j := AppendFlowJSON(nil, &e, now)
		if err := json.Unmarshal(j, &got); err != nil {
			t.Fatal(err)
		}
		for _, p := range [][2]any{{got.Orig.Src, e.Flow.Orig.Src}, {got.Orig.Dst, e.Flow.Orig.Dst}} {
			a := p[1].(netip.Addr)
			if !a.IsValid() {
				continue
			}
			if b, err := netip.ParseAddr(p[0].(string)); err != nil || b != a {
				t.Fatalf("address %v rendered as %q in %s", a, p[0], j)
			}
		}
	})
}

// duplicateKey returns a key that appears twice in one object of the
// valid JSON j, which jq and most decoders would silently collapse.
func duplicateKey(j []byte) string {
	d := json.NewDecoder(bytes.NewReader(j))
	type level struct {
		object bool
		keys   map[string]bool
		key    bool // the next string is a key
	}
	var stack []*level
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.key
		if top != nil && top.object {
			top.key = !top.key
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, &level{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &level{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			if tok == '{' || tok == '[' {
				if top != nil && top.object {
					top.key = true
				}
			}
		case string:
			if isKey {
				if top.keys[tok] {
					return tok
				}
				top.keys[tok] = true
			}
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	for j, want := range map[string]string{
		`{"a":1,"a":2}`:                         "a",
		`{"a":{"b":1},"b":2}`:                   "",
		`{"a":[1,{"x":"a"}],"b":{"x":1,"x":2}}`: "x",
		`{"s":["a","a"],"t":"s"}`:               "",
	} {
		if got := duplicateKey([]byte(j)); got != want {
			t.Errorf("%s: got %q, want %q", j, got, want)
		}
	}
}
