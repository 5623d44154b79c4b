package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeAll decodes every message of a datagram.
func decodeAll(t testing.TB, b []byte) []Message {
	t.Helper()
	var out []Message
	for off := 0; off < len(b); {
		var m Message
		n, err := Decode(b[off:], &m)
		if err != nil {
			t.Fatalf("offset %d: %v\n%s", off, err, hexRows(b))
		}
		out = append(out, m)
		off += n
	}
	return out
}

// diffRows reports the first differing 4-byte word of two dumps.
func diffRows(want, got []byte) string {
	return cmp.Diff(hexRows(want), hexRows(got))
}

func TestCapturesRoundTrip(t *testing.T) {
	for name, dgs := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			packed := 0
			for _, d := range dgs {
				msgs := decodeAll(t, d.payload)
				if len(msgs) > 1 {
					packed++
				}
				var re []byte
				for i := range msgs {
					re = AppendMessage(re, &msgs[i])
				}
				if !bytes.Equal(re, d.payload) {
					t.Errorf("%s: re-encoding differs (-want +got), 4-byte words:\n%s", d.name, diffRows(d.payload, re))
				}
			}
			if packed == 0 {
				t.Errorf("no datagram carries several messages; the legacy daemon packs them")
			}
		})
	}
}

var v4 = netip.MustParseAddr

// typeAnyCT matches any conntrack message type in TestCapturesContent.
const typeAnyCT Type = 0xff

// flowsOf returns every conntrack message in a fixture.
func flowsOf(t *testing.T, dgs []datagram) []Message {
	var out []Message
	for _, d := range dgs {
		for _, m := range decodeAll(t, d.payload) {
			if m.Type.IsCT() {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestCapturesContent checks that what capture.sh created on node 1 is what
// the captured messages say.
func TestCapturesContent(t *testing.T) {
	type check struct {
		name  string
		typ   Type
		match func(f *Flow) bool
		want  func(t *testing.T, f *Flow)
	}
	orig := func(src string, sport uint16) func(f *Flow) bool {
		return func(f *Flow) bool { return f.Orig.Src == v4(src) && f.Orig.SrcPort == sport }
	}
	has := func(t *testing.T, f *Flow, attrs ...Attr) {
		t.Helper()
		for _, a := range attrs {
			if !f.Attrs.Has(uint8(a)) {
				t.Errorf("attribute %d missing (attrs %#x)", a, uint64(f.Attrs))
			}
		}
	}
	checks := []check{
		{"tcp established with mark and timeout", TypeCTNew, orig("198.18.0.10", 1234), func(t *testing.T, f *Flow) {
			want := Tuple{Src: v4("198.18.0.10"), Dst: v4("198.18.0.20"), SrcPort: 1234, DstPort: 80, Proto: 6}
			if diff := cmp.Diff(want, f.Orig, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("orig (-want +got)\n%s", diff)
			}
			if f.TCPState != 3 || f.Mark != 7 || f.Timeout != 100 || f.Status != 0xe {
				t.Errorf("state %d mark %d timeout %d status %#x, want 3 7 100 0xe", f.TCPState, f.Mark, f.Timeout, f.Status)
			}
			has(t, f, AttrIPv4, AttrStatus, AttrL4Proto, AttrPort, AttrTCPState, AttrTimeout, AttrMark, AttrSynproxy)
		}},
		{"mark update", TypeCTUpdate, orig("198.18.0.10", 1234), func(t *testing.T, f *Flow) {
			if f.Mark != 9 {
				t.Errorf("mark %d, want 9", f.Mark)
			}
		}},
		{"tcp syn_sent deleted", TypeCTDelete, orig("198.18.0.11", 1235), func(t *testing.T, f *Flow) {
			if f.TCPState != 1 {
				t.Errorf("state %d, want 1 (SYN_SENT)", f.TCPState)
			}
		}},
		{"tcp time_wait", TypeCTNew, orig("198.18.0.12", 1236), func(t *testing.T, f *Flow) {
			if f.TCPState != 7 {
				t.Errorf("state %d, want 7 (TIME_WAIT)", f.TCPState)
			}
		}},
		{"udp", TypeCTNew, orig("198.18.0.30", 5353), func(t *testing.T, f *Flow) {
			if f.Orig.Proto != 17 || f.Orig.DstPort != 53 || f.Attrs.Has(uint8(AttrTCPState)) {
				t.Errorf("proto %d dport %d attrs %#x", f.Orig.Proto, f.Orig.DstPort, uint64(f.Attrs))
			}
		}},
		{"icmp echo", TypeCTNew, orig("198.18.0.40", 0), func(t *testing.T, f *Flow) {
			has(t, f, AttrICMPType, AttrICMPCode, AttrICMPID)
			if f.ICMPType != 8 || f.Attrs.Has(uint8(AttrPort)) {
				t.Errorf("icmp type %d, port attr %v", f.ICMPType, f.Attrs.Has(uint8(AttrPort)))
			}
		}},
		{"real ping has an id", typeAnyCT, func(f *Flow) bool { return f.Orig.Proto == 1 && f.Orig.Src == v4("198.51.100.1") }, func(t *testing.T, f *Flow) {
			if f.ICMPID == 0 {
				t.Errorf("icmp id 0")
			}
		}},
		{"sctp", TypeCTNew, orig("198.18.0.50", 2905), func(t *testing.T, f *Flow) {
			has(t, f, AttrSCTPState, AttrSCTPVTagOrig, AttrSCTPVTagReply)
			if f.SCTPState != 4 {
				t.Errorf("sctp state %d, want 4 (ESTABLISHED)", f.SCTPState)
			}
		}},
		{"dccp", TypeCTNew, func(f *Flow) bool { return f.Orig.Src == v4("198.18.0.60") }, func(t *testing.T, f *Flow) {
			if f.Orig.Proto != 33 {
				t.Errorf("proto %d, want 33", f.Orig.Proto)
			}
		}},
		{"ipv6 tcp", TypeCTNew, func(f *Flow) bool { return f.Orig.Src == v4("2001:db8::10") && f.Orig.Proto == 6 }, func(t *testing.T, f *Flow) {
			has(t, f, AttrIPv6)
			if f.Orig.Dst != v4("2001:db8::20") || f.Orig.DstPort != 443 || f.Timeout != 300 {
				t.Errorf("dst %v port %d timeout %d", f.Orig.Dst, f.Orig.DstPort, f.Timeout)
			}
		}},
		{"icmpv6", TypeCTNew, func(f *Flow) bool { return f.Orig.Src == v4("2001:db8::10") && f.Orig.Proto == 58 }, func(t *testing.T, f *Flow) {
			if f.ICMPType != 128 {
				t.Errorf("icmpv6 type %d, want 128", f.ICMPType)
			}
		}},
		{"dnat with port (port little-endian on the wire)", TypeCTNew, orig("198.18.0.70", 3333), func(t *testing.T, f *Flow) {
			has(t, f, AttrDNATIPv4, AttrDPATPort)
			if f.DNAT != v4("203.0.113.7") || f.DNATPort != 8080 {
				t.Errorf("dnat %v:%d, want 203.0.113.7:8080", f.DNAT, f.DNATPort)
			}
		}},
		{"snat with port", TypeCTNew, orig("198.18.0.72", 4444), func(t *testing.T, f *Flow) {
			has(t, f, AttrSNATIPv4, AttrSPATPort)
			if f.SNAT != v4("203.0.113.8") || f.SNATPort != 40000 {
				t.Errorf("snat %v:%d, want 203.0.113.8:40000", f.SNAT, f.SNATPort)
			}
		}},
		{"ipv6 dnat", TypeCTNew, func(f *Flow) bool { return f.Orig.Src == v4("2001:db8::70") }, func(t *testing.T, f *Flow) {
			has(t, f, AttrDNATIPv6)
			if f.DNAT != v4("2001:db8::99") {
				t.Errorf("dnat %v", f.DNAT)
			}
		}},
		{"zone", TypeCTNew, orig("198.18.0.80", 1000), func(t *testing.T, f *Flow) {
			if !f.Attrs.Has(uint8(AttrZone)) || f.Zone != 5 {
				t.Errorf("zone %d (present %v), want 5", f.Zone, f.Attrs.Has(uint8(AttrZone)))
			}
		}},
		{"labels 1 and 40", TypeCTUpdate, func(f *Flow) bool { return f.Orig.Src == v4("198.18.0.82") && f.Attrs.Has(uint8(AttrLabels)) }, func(t *testing.T, f *Flow) {
			if !f.Label(1) || !f.Label(40) || f.Label(0) || f.Label(41) || f.LabelWords != 4 {
				t.Errorf("labels %x (%d words), want bits 1 and 40 in 4 words", f.Labels, f.LabelWords)
			}
		}},
		{"ftp control with helper and window scale", TypeCTUpdate, func(f *Flow) bool { return f.Orig.DstPort == 21 && f.Orig.Proto == 6 }, func(t *testing.T, f *Flow) {
			has(t, f, AttrHelperName, AttrTCPWScaleOrig, AttrTCPWScaleRepl)
			if f.Helper.String() != "ftp" || f.TCPWScaleOrig == 0 {
				t.Errorf("helper %q wscale %d", f.Helper.String(), f.TCPWScaleOrig)
			}
		}},
	}
	for name, dgs := range loadFixtures(t) {
		flows := flowsOf(t, dgs)
		for _, c := range checks {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				for i := range flows {
					if (flows[i].Type == c.typ || c.typ == typeAnyCT) && c.match(&flows[i].Flow) {
						c.want(t, &flows[i].Flow)
						return
					}
				}
				t.Errorf("no %v message for this flow in the capture", c.typ)
			})
		}
	}
}

func TestCapturesControl(t *testing.T) {
	for name, dgs := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			seen := map[Flags]bool{}
			for _, d := range dgs {
				for _, m := range decodeAll(t, d.payload) {
					if m.Type == TypeControl {
						seen[m.Flags&^(FlagHello|FlagHelloBack)] = true
					}
					seen[m.Flags&(FlagHello|FlagHelloBack)] = true
				}
			}
			want := []Flags{FlagResync, FlagAlive}
			if strings.HasPrefix(name, "ftfw") {
				want = append(want, FlagAck, FlagHello, FlagHelloBack)
			}
			for _, f := range want {
				if !seen[f] {
					t.Errorf("no message with flags %#x", f)
				}
			}
		})
	}
}

// TestAppendWorkedExample builds a datagram conntrackd 1.4.7 sent (x86-64,
// one new-conntrack message; layout from src/build.c) from a Flow and
// compares it word by word.
func TestAppendWorkedExample(t *testing.T) {
	want := []byte{
		0x10, 0x00, 0x00, 0x54, 0x6b, 0x06, 0x71, 0x03,
		0x00, 0x0c, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x0a, 0xc6, 0x33, 0x64, 0x14,
		0x00, 0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x0e,
		0x00, 0x05, 0x00, 0x02, 0x06, 0x00, 0x00, 0x00,
		0x00, 0x08, 0x00, 0x03, 0x04, 0xd2, 0x00, 0x50,
		0x00, 0x05, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00,
		0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x64,
		0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x07,
		0x00, 0x10, 0x00, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	m := Message{Header: Header{Type: TypeCTNew, Seq: 0x6b067103}}
	f := &m.Flow
	f.Orig = Tuple{Src: v4("198.51.100.10"), Dst: v4("198.51.100.20"), SrcPort: 1234, DstPort: 80, Proto: 6}
	f.Status, f.TCPState, f.Timeout, f.Mark = 0x0e, 3, 100, 7
	for _, a := range []Attr{AttrIPv4, AttrStatus, AttrL4Proto, AttrPort, AttrTCPState, AttrTimeout, AttrMark, AttrSynproxy} {
		f.Attrs.Set(uint8(a))
	}
	buf := make([]byte, 3, 128) // encoding appends after existing content
	got := AppendMessage(buf, &m)[3:]
	if diff := diffRows(want, got); diff != "" {
		t.Errorf("(-want +got), 4-byte words:\n%s", diff)
	}
}

// TestAppendTraps pins the byte-order and padding traps of the attribute
// encoding (src/build.c, src/parse.c) and the control message forms
// (include/network.h, src/queue_tx.c).
func TestAppendTraps(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string // hex of the body after the 8-byte header
	}{
		{"dnat ipv4 network order, port little-endian",
			func() Message {
				m := Message{Header: Header{Type: TypeCTUpdate}}
				m.Flow.DNAT, m.Flow.DNATPort = v4("203.0.113.7"), 8080
				m.Flow.Attrs.Set(uint8(AttrDNATIPv4))
				m.Flow.Attrs.Set(uint8(AttrDPATPort))
				return m
			}(), "0008000d cb007107 0006000f 901f0000"},
		{"icmp id little-endian",
			func() Message {
				m := Message{Header: Header{Type: TypeCTNew}}
				m.Flow.ICMPID = 0x1234
				m.Flow.Attrs.Set(uint8(AttrICMPID))
				return m
			}(), "00060018 34120000"},
		{"helper name: length excludes padding",
			func() Message {
				m := Message{Header: Header{Type: TypeCTNew}}
				m.Flow.Helper = MakeName("ftp")
				m.Flow.Attrs.Set(uint8(AttrHelperName))
				m.Flow.Zone = 5
				m.Flow.Attrs.Set(uint8(AttrZone))
				return m
			}(), "0008001b 66747000 00060020 00050000"},
		{"helper name too long for a legacy receiver is truncated to 11 bytes",
			func() Message {
				m := Message{Header: Header{Type: TypeCTNew}}
				m.Flow.Helper = MakeName("a-very-long-helper")
				m.Flow.Attrs.Set(uint8(AttrHelperName))
				return m
			}(), "0010001b 612d7665 72792d6c 6f6e6700"},
		{"labels bits 1 and 40",
			func() Message {
				m := Message{Header: Header{Type: TypeCTNew}}
				m.Flow.SetLabel(1)
				m.Flow.SetLabel(40)
				m.Flow.LabelWords = 4
				return m
			}(), "0014001c 00000002 00000100 00000000 00000000"},
		{"attribute bits past NTA_MAX are never written",
			func() Message {
				m := Message{Header: Header{Type: TypeCTNew}}
				m.Flow.Attrs = 1 << 40
				return m
			}(), ""},
		{"ack has from/to", Message{Header: Header{Type: TypeControl, Flags: FlagAck | FlagHello, From: 1, To: 2}}, "00000001 00000002"},
		{"alive has none", Message{Header: Header{Type: TypeControl, Flags: FlagAlive, From: 1, To: 2}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendMessage(nil, &tt.msg)
			if int(be.Uint16(got[2:])) != len(got) {
				t.Errorf("length field %d, message %d bytes", be.Uint16(got[2:]), len(got))
			}
			if diff := cmp.Diff(tt.want, strings.TrimSpace(strings.ReplaceAll(hexRows(got[8:]), "\n", " "))); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			var m Message
			if _, err := Decode(got, &m); err != nil {
				t.Fatalf("decode own output: %v", err)
			}
		})
	}
}

func h(s string) []byte {
	var b []byte
	for _, w := range strings.Fields(s) {
		for i := 0; i+1 < len(w); i += 2 {
			var v byte
			for _, c := range w[i : i+2] {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= byte(c - '0')
				default:
					v |= byte(c-'a') + 10
				}
			}
			b = append(b, v)
		}
	}
	return b
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
		offset  int
		attr    int
		detail  string
	}{
		{"empty", "", ErrShort, 0, -1, "0 bytes"},
		{"short header", "10000008 0000", ErrShort, 0, -1, "6 bytes"},
		{"wrong version", "20000008 00000001", ErrVersion, 0, -1, "version 2"},
		{"version 0", "00000008 00000001", ErrVersion, 0, -1, "version 0"},
		{"length below header", "10000004 00000001", ErrLength, 2, -1, "length 4"},
		{"length zero", "10000000 00000001", ErrLength, 2, -1, "length 0"},
		{"length past datagram", "1000000c 00000001", ErrShort, 2, -1, "length 12, 8 bytes"},
		{"unknown message type 6", "16000008 00000001", ErrType, 0, -1, "type 6"},
		{"unknown message type 15", "1f000008 00000001", ErrType, 0, -1, "type 15"},
		{"ack without range", "1a080008 00000001", ErrLength, 2, -1, "ack/nack/resync need 16"},
		{"attribute overruns message", "10000010 00000001 000c0000 c6336400", ErrAttrOverrun, 8, 0, "length 12, 8 bytes left"},
		{"attribute length below 4", "10000010 00000001 00020000 00000000", ErrAttrLen, 8, 0, "length 2"},
		{"unknown ct attribute 33", "10000010 00000001 00080021 00000000", ErrAttrType, 8, 33, "types 0-32"},
		{"unknown exp attribute 21", "13000010 00000001 00080015 00000000", ErrAttrType, 8, 21, "types 0-20"},
		{"ipv4 with wrong length", "10000010 00000001 00080000 c6336400", ErrAttrLen, 8, 0, "length 8, want 12"},
		{"status with wrong length", "10000010 00000001 00070005 00000000", ErrAttrLen, 8, 5, "length 7, want 8"},
		{"second attribute bad", "1000001c 00000001 00050002 06000000 00090007 00000000 00000000", ErrAttrLen, 16, 7, "length 9, want 8"},
		{"helper name too long", "1000001c 00000001 0011001b 61616161 61616161 61616161 00000000", ErrAttrLen, 8, 27, "length 17, at most 16"},
		{"exp fn too long", "1300002c 00000001 00210014 " + strings.Repeat("61616161 ", 7) + "00000000", ErrAttrLen, 8, 20, "length 33, at most 32"},
		{"exp port wrong length", "13000010 00000001 00060003 00500000", ErrAttrLen, 8, 3, "length 6, want 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			_, err := Decode(h(tt.in), &m)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("error %T, want *wire.Error", err)
			}
			if we.Offset != tt.offset || we.Attr != tt.attr || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("got offset %d attr %d %q, want offset %d attr %d containing %q", we.Offset, we.Attr, err, tt.offset, tt.attr, tt.detail)
			}
		})
	}
}

// TestDecodeLenient pins inputs the legacy receiver accepts although they are
// not what it sends.
func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, m *Message)
	}{
		{"up to 4 trailing body bytes ignored", "1000000c 00000001 00000000", func(t *testing.T, m *Message) {
			if m.Flow.Attrs != 0 {
				t.Errorf("attrs %#x", uint64(m.Flow.Attrs))
			}
		}},
		{"labels not a multiple of 4 ignored, rest kept", "10000018 00000001 0007001c 01020300 00050002 11000000", func(t *testing.T, m *Message) {
			if m.Flow.Attrs.Has(uint8(AttrLabels)) || m.Flow.Orig.Proto != 0x11 {
				t.Errorf("attrs %#x proto %d", uint64(m.Flow.Attrs), m.Flow.Orig.Proto)
			}
		}},
		{"repeated attribute: last wins; ipv6 replaces ipv4", "10000038 00000001 000c0000 c6336401 c6336402 00240001 20010db8 00000000 00000000 00000001 20010db8 00000000 00000000 00000002", func(t *testing.T, m *Message) {
			if m.Flow.Attrs.Has(uint8(AttrIPv4)) || m.Flow.Orig.Src != v4("2001:db8::1") {
				t.Errorf("attrs %#x src %v", uint64(m.Flow.Attrs), m.Flow.Orig.Src)
			}
		}},
		{"helper name cut at first NUL", "10000010 00000001 0008001b 66007400", func(t *testing.T, m *Message) {
			if m.Flow.Helper.String() != "f" {
				t.Errorf("helper %q", m.Flow.Helper.String())
			}
		}},
		{"helper name without NUL cut to 11 bytes", "10000018 00000001 0010001b 61626364 65666768 696a6b6c", func(t *testing.T, m *Message) {
			if m.Flow.Helper.String() != "abcdefghijk" {
				t.Errorf("helper %q", m.Flow.Helper.String())
			}
		}},
		{"alive with hello", "1a300008 00000001", func(t *testing.T, m *Message) {
			if m.Flags != FlagAlive|FlagHello {
				t.Errorf("flags %#x", m.Flags)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			n, err := Decode(h(tt.in), &m)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(h(tt.in)) {
				t.Errorf("consumed %d of %d", n, len(h(tt.in)))
			}
			tt.check(t, &m)
		})
	}
}

// TestCapturesExpectations checks the expectation the kernel's ftp helper
// created on node 1 for "PORT 198,51,100,1,156,74" (port 40010).
func TestCapturesExpectations(t *testing.T) {
	for name, dgs := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			types := map[Type]bool{}
			for _, d := range dgs {
				for _, m := range decodeAll(t, d.payload) {
					e := &m.Exp
					if !m.Type.IsExp() || e.Tuple.Proto != 6 {
						continue
					}
					types[m.Type] = true
					if e.Master.Src != v4("198.51.100.1") || e.Master.DstPort != 21 || e.Master.Proto != 6 {
						t.Errorf("%v master %+v, want 198.51.100.1 -> :21 tcp", m.Type, e.Master)
					}
					if e.Tuple.Src != v4("198.51.100.2") || e.Tuple.Dst != v4("198.51.100.1") || e.Tuple.DstPort != 40010 {
						t.Errorf("%v tuple %+v, want 198.51.100.2 -> 198.51.100.1:40010", m.Type, e.Tuple)
					}
					if e.Mask.Src != v4("255.255.255.255") || e.Mask.SrcPort != 0 || e.Mask.DstPort != 0xffff {
						t.Errorf("%v mask %+v", m.Type, e.Mask)
					}
					if e.Helper.String() != "ftp" || !e.Attrs.Has(uint8(ExpAttrFlags)) || !e.Attrs.Has(uint8(ExpAttrTimeout)) {
						t.Errorf("%v helper %q attrs %#x", m.Type, e.Helper.String(), uint64(e.Attrs))
					}
				}
			}
			if !types[TypeExpNew] || !types[TypeExpDelete] {
				t.Errorf("expectation message types seen %v, want exp-new and exp-delete", types)
			}
		})
	}
}
