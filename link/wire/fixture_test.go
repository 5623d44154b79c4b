package wire

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// Captures are stored as txtar archives: the comment says how the capture
// was made, each file is one UDP payload named "NNN SRC>DST", or one TCP
// segment payload named "NNN tcp SRC:PORT>DST:PORT", written as hex in
// 4-byte words so a reviewer can read it against the spec.
//
// testdata/captures/*.txtar all record the same scenario (capture.sh
// SCENARIO all) over different links, so wire_test.go checks their content
// the same way; testdata/captures/*/ holds other scenarios, which only the
// round trip and coverage tests below read.
var (
	pcapIn      = flag.String("pcap", "", "TestImportPcap: pcap file to turn into a fixture")
	pcapPort    = flag.Int("port", 0, "TestImportPcap: keep only packets from or to this port (0: all UDP)")
	fixtureOut  = flag.String("fixture", "", "TestImportPcap: txtar fixture to write")
	fixtureNote = flag.String("note", "", "TestImportPcap: comment for the fixture (how it was made)")
)

type datagram struct {
	name    string
	payload []byte
}

// segment is one archive file: a UDP payload (stream "") or the payload of
// one TCP segment of the stream named "SRC:PORT>DST:PORT".
type segment struct {
	name    string
	stream  string
	payload []byte
}

func readCapture(t testing.TB, path string) []segment {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []segment
	for _, af := range ar.Files {
		b, err := hex.DecodeString(strings.Join(strings.Fields(string(af.Data)), ""))
		if err != nil {
			t.Fatalf("%s: %s: %v", path, af.Name, err)
		}
		s := segment{name: af.Name, payload: b}
		if f := strings.Fields(af.Name); len(f) == 3 && f[1] == "tcp" {
			s.stream = f[2]
		}
		out = append(out, s)
	}
	return out
}

// loadFixtures returns the datagrams of the captures of the common scenario
// (testdata/captures/*.txtar), keyed by file name.
func loadFixtures(t testing.TB) map[string][]datagram {
	return loadGlob(t, "testdata/captures/*.txtar")
}

// loadAllFixtures returns the datagrams of every capture, keyed by the path
// below testdata/captures.
func loadAllFixtures(t testing.TB) map[string][]datagram {
	out := loadGlob(t, "testdata/captures/*.txtar")
	for k, v := range loadGlob(t, "testdata/captures/*/*.txtar") {
		out[k] = v
	}
	return out
}

func loadGlob(t testing.TB, glob string) map[string][]datagram {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture fixtures match %s (err %v)", glob, err)
	}
	out := map[string][]datagram{}
	for _, f := range files {
		key, _ := filepath.Rel("testdata/captures", f)
		segs := readCapture(t, f)
		dgs, err := cutReads(segs)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.ToSlash(key)] = dgs
	}
	return out
}

// cutReads turns a capture into the units a legacy receiver processes in
// one go: each UDP payload; for a TCP stream, the bytes of consecutive
// segments up to the first segment end that is also a message end (the
// legacy sender writes whole buffers, so that is usually one segment).
// Message ends are found from the header's length field alone, not with
// Decode, so that TestCapturesStreamCut can check Decode against them.
func cutReads(segs []segment) ([]datagram, error) {
	var out []datagram
	type pending struct {
		buf   []byte
		first string
		need  int // offset of the next message start in buf
	}
	open := map[string]*pending{}
	for _, s := range segs {
		if s.stream == "" {
			out = append(out, datagram{s.name, s.payload})
			continue
		}
		p := open[s.stream]
		if p == nil {
			p = &pending{}
			open[s.stream] = p
		}
		if len(p.buf) == 0 {
			p.first = s.name
		}
		p.buf = append(p.buf, s.payload...)
		for p.need+HeaderLen <= len(p.buf) {
			n := int(be.Uint16(p.buf[p.need+2:]))
			if n < HeaderLen {
				return nil, fmt.Errorf("%s: message at stream offset %d has length %d", s.name, p.need, n)
			}
			p.need += n
		}
		if p.need == len(p.buf) {
			name := p.first
			if name != s.name {
				name += " .. " + strings.Fields(s.name)[0]
			}
			out = append(out, datagram{name, p.buf})
			p.buf, p.need = nil, 0
		}
	}
	for k, p := range open {
		if len(p.buf) > 0 {
			return nil, fmt.Errorf("tcp stream %s ends inside a message (%d bytes from %s)", k, len(p.buf), p.first)
		}
	}
	return out, nil
}

// hexRows formats b as 4-byte words, four per line.
func hexRows(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		end := min(i+4, len(b))
		sb.WriteString(hex.EncodeToString(b[i:end]))
		if (i/4)%4 == 3 || end == len(b) {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// TestImportPcap turns a capture made by testdata/capture.sh into a
// fixture. It runs only when -pcap and -fixture are given.
func TestImportPcap(t *testing.T) {
	if *pcapIn == "" || *fixtureOut == "" {
		t.Skip("set -pcap and -fixture to import a capture")
	}
	data, err := os.ReadFile(*pcapIn)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := pcapPayloads(data, uint16(*pcapPort))
	if err != nil {
		t.Fatal(err)
	}
	ar := &txtar.Archive{Comment: []byte(*fixtureNote + "\n")}
	for i, s := range segs {
		name := fmt.Sprintf("%03d %s", i, s.name)
		if s.stream != "" {
			name = fmt.Sprintf("%03d tcp %s", i, s.stream)
		}
		ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(hexRows(s.payload))})
	}
	if _, err := cutReads(readBack(t, ar)); err != nil {
		t.Fatalf("not importable: %v", err)
	}
	if err := os.WriteFile(*fixtureOut, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d payloads to %s", len(segs), *fixtureOut)
}

func readBack(t *testing.T, ar *txtar.Archive) []segment {
	f := filepath.Join(t.TempDir(), "a.txtar")
	if err := os.WriteFile(f, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
	return readCapture(t, f)
}

// pcapPayloads extracts the UDP payloads and the TCP segment payloads (in
// stream order, retransmissions dropped) from a classic pcap file with
// Ethernet framing (what tcpdump -w writes on a veth), IPv4 or IPv6, with
// IP fragments reassembled. port, if not 0, keeps only packets from or to
// that port.
func pcapPayloads(data []byte, port uint16) ([]segment, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("pcap: short file")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic %x", data[:4])
	}
	if lt := bo.Uint32(data[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want 1 (Ethernet)", lt)
	}
	var (
		out   []segment
		frags = reassembler{}
		next  = map[string]uint32{} // per TCP stream: next expected sequence number
	)
	for off, rec := 24, 0; off+16 <= len(data); rec++ {
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			return nil, fmt.Errorf("pcap: truncated record")
		}
		pkt := data[off : off+incl]
		off += incl
		if len(pkt) < 14 {
			continue
		}
		src, dst, proto, l4, err := frags.ip(pkt[14:], binary.BigEndian.Uint16(pkt[12:]))
		if err != nil {
			return nil, fmt.Errorf("pcap record %d: %w", rec, err)
		}
		if l4 == nil {
			continue
		}
		switch proto {
		case 17:
			if len(l4) < 8 {
				continue
			}
			sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
			if port != 0 && sp != port && dp != port {
				continue
			}
			out = append(out, segment{name: src.String() + ">" + dst.String(), payload: l4[8:]})
		case 6:
			if len(l4) < 20 || int(l4[12]>>4)*4 > len(l4) {
				continue
			}
			sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
			if port != 0 && sp != port && dp != port {
				continue
			}
			key := netip.AddrPortFrom(src, sp).String() + ">" + netip.AddrPortFrom(dst, dp).String()
			seq, flags := binary.BigEndian.Uint32(l4[4:]), l4[13]
			payload := l4[int(l4[12]>>4)*4:]
			if flags&0x02 != 0 { // SYN
				next[key] = seq + 1
				continue
			}
			if len(payload) == 0 {
				continue
			}
			want, ok := next[key]
			if !ok {
				want = seq // stream began before the capture
			}
			switch d := int32(seq - want); {
			case d > 0:
				return nil, fmt.Errorf("pcap record %d: tcp %s: %d bytes missing before seq %d", rec, key, d, seq)
			case int(-d) >= len(payload):
				continue // retransmission
			default:
				payload = payload[-d:]
			}
			next[key] = want + uint32(len(payload))
			out = append(out, segment{stream: key, payload: payload})
		}
	}
	if n := len(frags); n > 0 {
		return nil, fmt.Errorf("pcap: %d incomplete fragmented packets", n)
	}
	return out, nil
}

// reassembler collects IP fragments by (source, destination, id).
type reassembler map[string][]fragment

type fragment struct {
	off  int
	more bool
	data []byte
	l4   uint8
}

// ip returns the addresses, protocol and transport bytes of an IPv4
// (ethertype 0x0800) or IPv6 (0x86dd) packet, or nil transport bytes for
// anything else and for a fragment that does not complete a packet.
func (r reassembler) ip(p []byte, ethertype uint16) (src, dst netip.Addr, proto uint8, l4 []byte, err error) {
	switch ethertype {
	case 0x0800:
		if len(p) < 20 {
			return
		}
		ihl, total := int(p[0]&0x0f)*4, int(binary.BigEndian.Uint16(p[2:]))
		if total > len(p) || ihl > total {
			return
		}
		src, dst, proto = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), p[9]
		fo := binary.BigEndian.Uint16(p[6:])
		f := fragment{off: int(fo&0x1fff) * 8, more: fo&0x2000 != 0, data: p[ihl:total], l4: proto}
		if f.off == 0 && !f.more {
			return src, dst, proto, f.data, nil
		}
		key := fmt.Sprintf("4 %v %v %x", src, dst, p[4:6])
		proto, l4, err = r.add(key, f)
		return src, dst, proto, l4, err
	case 0x86dd:
		if len(p) < 40 {
			return
		}
		end := 40 + int(binary.BigEndian.Uint16(p[4:]))
		if end > len(p) {
			return
		}
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		nh, off := p[6], 40
		for {
			switch nh {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if off+8 > end {
					return src, dst, 0, nil, fmt.Errorf("ipv6: truncated extension header")
				}
				nh, off = p[off], off+8+int(p[off+1])*8
				continue
			case 44: // fragment
				if off+8 > end {
					return src, dst, 0, nil, fmt.Errorf("ipv6: truncated fragment header")
				}
				fo := binary.BigEndian.Uint16(p[off+2:])
				f := fragment{off: int(fo &^ 7), more: fo&1 != 0, data: p[off+8 : end], l4: p[off]}
				key := fmt.Sprintf("6 %v %v %x", src, dst, p[off+4:off+8])
				proto, l4, err = r.add(key, f)
				return src, dst, proto, l4, err
			}
			return src, dst, nh, p[off:end], nil
		}
	}
	return
}

// add stores a fragment and returns the whole transport payload once every
// fragment of the packet is there.
func (r reassembler) add(key string, f fragment) (uint8, []byte, error) {
	fs := append(r[key], f)
	r[key] = fs
	slices.SortFunc(fs, func(a, b fragment) int { return cmp.Compare(a.off, b.off) })
	if fs[len(fs)-1].more {
		return 0, nil, nil
	}
	var whole []byte
	for _, x := range fs {
		if x.off != len(whole) {
			return 0, nil, nil // a hole: wait (an overlap is never completed and reported at the end)
		}
		whole = append(whole, x.data...)
	}
	delete(r, key)
	return fs[0].l4, whole, nil
}

// TestCapturesStreamCut feeds each captured TCP stream to Decode the way the
// legacy receiver reads a stream socket: whatever arrived is appended to a
// buffer, whole messages are taken from its front, and a trailing partial
// message (ErrShort) waits for the next read. Whether reads follow the
// captured segments or come one byte or 7 bytes at a time, the messages must
// be the ones the header lengths delimit, each re-encoding to its bytes.
func TestCapturesStreamCut(t *testing.T) {
	files, _ := filepath.Glob("testdata/captures/*.txtar")
	more, _ := filepath.Glob("testdata/captures/*/*.txtar")
	streams := 0
	for _, f := range append(files, more...) {
		byStream := map[string][][]byte{}
		for _, s := range readCapture(t, f) {
			if s.stream != "" {
				byStream[s.stream] = append(byStream[s.stream], s.payload)
			}
		}
		for key, segs := range byStream {
			streams++
			whole := slices.Concat(segs...)
			var want [][]byte // cut by the length field alone
			for off := 0; off < len(whole); off += int(be.Uint16(whole[off+2:])) {
				want = append(want, whole[off:off+int(be.Uint16(whole[off+2:]))])
			}
			reads := map[string][][]byte{"segments": segs, "1 byte": chunks(whole, 1), "7 bytes": chunks(whole, 7)}
			for how, rd := range reads {
				t.Run(filepath.Base(f)+"/"+key+"/"+how, func(t *testing.T) {
					got, rest := streamMessages(t, rd)
					if len(rest) != 0 {
						t.Errorf("%d bytes left over at the end of the stream", len(rest))
					}
					if len(got) != len(want) {
						t.Fatalf("%d messages, want %d", len(got), len(want))
					}
					for i := range got {
						if !slices.Equal(got[i], want[i]) {
							t.Fatalf("message %d (-want +got):\n%s", i, diffRows(want[i], got[i]))
						}
					}
				})
			}
		}
	}
	if streams == 0 {
		t.Fatal("no TCP stream in the captures")
	}
}

func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	for ; len(b) > n; b = b[n:] {
		out = append(out, b[:n])
	}
	return append(out, b)
}

// streamMessages is the legacy stream receive loop over reads; it returns
// each message as re-encoded from its decoded form, and the unread rest.
func streamMessages(t *testing.T, reads [][]byte) (msgs [][]byte, rest []byte) {
	t.Helper()
	var m Message
	for _, r := range reads {
		rest = append(rest, r...)
		for {
			n, err := Decode(rest, &m)
			if errors.Is(err, ErrShort) {
				break
			}
			if err != nil {
				t.Fatalf("after %d messages: %v", len(msgs), err)
			}
			msgs = append(msgs, AppendMessage(nil, &m))
			rest = rest[n:]
		}
	}
	return msgs, rest
}

// TestCaptureScenariosRoundTrip re-encodes the captures of the scenarios
// other than the common one (testdata/captures/*/), which TestCapturesRoundTrip
// does not read.
func TestCaptureScenariosRoundTrip(t *testing.T) {
	all := loadAllFixtures(t)
	n := 0
	for name, dgs := range all {
		if !strings.Contains(name, "/") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			for _, d := range dgs {
				var re []byte
				for _, m := range decodeAll(t, d.payload) {
					re = AppendMessage(re, &m)
				}
				if !slices.Equal(re, d.payload) {
					t.Errorf("%s: re-encoding differs (-want +got), 4-byte words:\n%s", d.name, diffRows(d.payload, re))
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no capture in testdata/captures/*/")
	}
}

// TestCapturesCoverage makes sure that the fixture set as a whole keeps
// every kind of attribute and link that legacy daemons were seen to put on
// a real wire, so that re-recording or pruning a capture cannot silently
// leave one to hand-built tests only. On no captured wire, so not listed:
// DCCP state and role (conntrack 1.4.7 cannot create them, this kernel has
// no DCCP sockets), MASTER_IPV6, SNAT_IPV6 and NACK (see README.md).
func TestCapturesCoverage(t *testing.T) {
	type kind struct {
		name string
		ct   func(m *Message, f *Flow) bool
		exp  func(e *Expect) bool
		dg   func(file, name string) bool
	}
	has := func(as ...Attr) func(*Message, *Flow) bool {
		return func(_ *Message, f *Flow) bool {
			for _, a := range as {
				if !f.Has(a) {
					return false
				}
			}
			return true
		}
	}
	expHas := func(as ...ExpAttr) func(*Expect) bool {
		return func(e *Expect) bool {
			for _, a := range as {
				if !e.Has(a) {
					return false
				}
			}
			return true
		}
	}
	flag := func(fl Flags) func(m *Message, _ *Flow) bool {
		return func(m *Message, _ *Flow) bool { return m.Flags&fl != 0 }
	}
	kinds := []kind{
		{name: "ipv4 tuple", ct: has(AttrIPv4, AttrL4Proto, AttrPort)},
		{name: "ipv6 tuple", ct: has(AttrIPv6, AttrL4Proto, AttrPort)},
		{name: "status, timeout, mark", ct: func(_ *Message, f *Flow) bool {
			return f.Has(AttrStatus) && f.Has(AttrTimeout) && f.Has(AttrMark) && f.Mark != 0
		}},
		{name: "tcp state and window scale", ct: has(AttrTCPState, AttrTCPWScaleOrig, AttrTCPWScaleRepl)},
		{name: "sctp state and vtags", ct: has(AttrSCTPState, AttrSCTPVTagOrig, AttrSCTPVTagReply)},
		{name: "dccp flow", ct: func(_ *Message, f *Flow) bool { return f.Orig.Proto == 33 }},
		{name: "icmp id", ct: func(_ *Message, f *Flow) bool {
			return f.Orig.Proto == 1 && f.Has(AttrICMPType) && f.Has(AttrICMPCode) && f.Has(AttrICMPID) && f.ICMPID != 0
		}},
		{name: "icmpv6", ct: func(_ *Message, f *Flow) bool { return f.Orig.Proto == 58 && f.Has(AttrICMPType) }},
		{name: "snat ipv4 with port", ct: has(AttrSNATIPv4, AttrSPATPort)},
		{name: "dnat ipv4 with port", ct: has(AttrDNATIPv4, AttrDPATPort)},
		{name: "dnat ipv6", ct: has(AttrDNATIPv6)},
		{name: "master tuple", ct: has(AttrMasterIPv4, AttrMasterL4Proto, AttrMasterPort)},
		{name: "sequence adjustment", ct: func(_ *Message, f *Flow) bool {
			return f.Has(AttrNATSeqAdj) && f.SeqAdj[0] != 0 && f.SeqAdj[2] != f.SeqAdj[1]
		}},
		{name: "helper name", ct: func(_ *Message, f *Flow) bool { return f.Helper.Len() > 0 }},
		{name: "zone", ct: func(_ *Message, f *Flow) bool { return f.Has(AttrZone) && f.Zone != 0 }},
		{name: "labels", ct: func(_ *Message, f *Flow) bool { return f.Has(AttrLabels) && f.LabelWords > 0 }},
		{name: "synproxy", ct: has(AttrSynproxy)},
		{name: "ct delete", ct: func(m *Message, _ *Flow) bool { return m.Type == TypeCTDelete }},
		{name: "expectation", exp: expHas(ExpAttrMasterIPv4, ExpAttrMasterPort, ExpAttrExpectIPv4, ExpAttrExpectPort,
			ExpAttrMaskIPv4, ExpAttrMaskPort, ExpAttrTimeout, ExpAttrFlags, ExpAttrClass, ExpAttrHelperName)},
		{name: "expectation nat, reply direction", exp: func(e *Expect) bool {
			return expHas(ExpAttrNATIPv4, ExpAttrNATL4Proto, ExpAttrNATPort, ExpAttrNATDir)(e) && e.NATDir == 1
		}},
		{name: "expectation nat, original direction", exp: func(e *Expect) bool { return e.Has(ExpAttrNATDir) && e.NATDir == 0 }},
		{name: "expectation function", exp: func(e *Expect) bool { return e.Fn.Len() > 0 }},
		{name: "control ack", ct: flag(FlagAck)},
		{name: "control resync", ct: flag(FlagResync)},
		{name: "control alive", ct: flag(FlagAlive)},
		{name: "hello", ct: flag(FlagHello)},
		{name: "hello back", ct: flag(FlagHelloBack)},
		{name: "udp over ipv4", dg: func(_, n string) bool { return strings.HasSuffix(n, ">198.51.100.2") }},
		{name: "udp over ipv6", dg: func(_, n string) bool { return strings.HasSuffix(n, ">2001:db8::2") }},
		{name: "ipv4 multicast", dg: func(_, n string) bool { return strings.HasSuffix(n, ">225.0.0.50") }},
		{name: "ipv6 multicast", dg: func(_, n string) bool { return strings.Contains(n, ">ff02::") }},
		{name: "tcp stream", dg: func(_, n string) bool { return strings.Contains(n, " tcp ") }},
		{name: "notrack mode", dg: func(f, _ string) bool { return strings.HasPrefix(f, "notrack") }},
	}
	seen := map[string][]string{}
	for file, dgs := range loadAllFixtures(t) {
		for _, d := range dgs {
			for _, m := range decodeAll(t, d.payload) {
				for _, k := range kinds {
					hit := false
					switch {
					case k.ct != nil: // Flow is zero for other message types
						hit = k.ct(&m, &m.Flow)
					case k.exp != nil && m.Type.IsExp():
						hit = k.exp(&m.Exp)
					case k.dg != nil:
						hit = k.dg(file, d.name)
					}
					if hit && !slices.Contains(seen[k.name], file) {
						seen[k.name] = append(seen[k.name], file)
					}
				}
			}
		}
	}
	for _, k := range kinds {
		if len(seen[k.name]) == 0 {
			t.Errorf("%s: in no capture", k.name)
		} else {
			slices.Sort(seen[k.name])
			t.Logf("%s: %s", k.name, strings.Join(seen[k.name], " "))
		}
	}
}

// TestCaptureFTPNAT checks what capture.sh's ftpnat scenario put on the
// wire: node 1 SNATs the FTP client 203.0.113.2 to 198.51.100.65 towards
// the server 198.51.100.66, and nf_nat_ftp rewrites the client's
// "PORT 203,0,113,2,156,74" into the 2 bytes longer "PORT 198,51,100,65,156,74".
func TestCaptureFTPNAT(t *testing.T) {
	dgs := loadAllFixtures(t)["ftpnat/ftfw-udp-ftpnat.txtar"]
	if dgs == nil {
		t.Fatal("no ftpnat/ftfw-udp-ftpnat.txtar")
	}
	ctl := Tuple{Src: v4("203.0.113.2"), Dst: v4("198.51.100.66"), DstPort: 21, Proto: 6}
	var seqAdj, active, passive int
	exps := map[uint16]Expect{} // by expected destination port
	for _, d := range dgs {
		for _, m := range decodeAll(t, d.payload) {
			f, e := &m.Flow, &m.Exp
			switch {
			case m.Type.IsExp() && e.Tuple.Proto == 6:
				exps[e.Tuple.DstPort] = *e
			case !m.Type.IsCT():
			case f.Orig.Src == ctl.Src && f.Orig.DstPort == 21:
				ctl.SrcPort = f.Orig.SrcPort
				if f.SNAT != v4("198.51.100.65") || f.Helper.String() != "ftp" {
					t.Errorf("%s: control connection snat %v helper %q, want 198.51.100.65 ftp", d.name, f.SNAT, f.Helper.String())
				}
				if f.Has(AttrNATSeqAdj) {
					seqAdj++
					if a := f.SeqAdj; a[0] == 0 || a[1] != 0 || a[2] != 2 || a[3]|a[4]|a[5] != 0 {
						t.Errorf("%s: seq adjust %v, want [pos 0 2 0 0 0]", d.name, a)
					}
				}
			case f.Orig.DstPort == 40010:
				active++
				if !f.Has(AttrMasterIPv4) || f.Master != ctl || f.DNAT != v4("203.0.113.2") || f.Status&1 == 0 {
					t.Errorf("%s: active data master %+v (present %v) dnat %v status %#x, want master %+v, dnat 203.0.113.2, EXPECTED",
						d.name, f.Master, f.Has(AttrMasterIPv4), f.DNAT, f.Status, ctl)
				}
			case f.Orig.DstPort == 40020:
				passive++
				if !f.Has(AttrMasterIPv4) || f.Master != ctl || f.SNAT != v4("198.51.100.65") || f.Status&1 == 0 {
					t.Errorf("%s: passive data master %+v snat %v status %#x", d.name, f.Master, f.SNAT, f.Status)
				}
			}
		}
	}
	if seqAdj == 0 || active == 0 || passive == 0 {
		t.Errorf("messages with seq adjust %d, active data %d, passive data %d; want some of each", seqAdj, active, passive)
	}
	// nf_nat_ftp saves only the port (the address follows the master), so
	// the NAT tuple's addresses are 0.0.0.0; the direction is the one the
	// data connection will come from.
	for port, dir := range map[uint16]uint32{40010: 1, 40020: 0} {
		e, ok := exps[port]
		if !ok {
			t.Errorf("no expectation for port %d", port)
			continue
		}
		want := Tuple{Src: v4("0.0.0.0"), Dst: v4("0.0.0.0"), SrcPort: port, Proto: 6}
		if e.NAT != want || e.NATDir != dir || e.Fn.String() != "nat-follow-master" || e.Master != ctl {
			t.Errorf("expectation %d: nat %+v dir %d fn %q master %+v, want %+v dir %d nat-follow-master master %+v",
				port, e.NAT, e.NATDir, e.Fn.String(), e.Master, want, dir, ctl)
		}
	}
}
