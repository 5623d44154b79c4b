package render

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/engine/cache"
)

// The lines are conntrackd 1.4.7's `-i -x` for the same flows (inserted
// with conntrack -I), without the <id> it keeps from the kernel.
func TestAppendFlowXML(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name string
		f    cache.Flow
		want string
	}{
		{"tcp assured with a mark", cache.Flow{
			Orig: cache.Tuple{Src: a("198.18.0.1"), Dst: a("198.18.0.2"), Proto: 6, SrcPort: 1000, DstPort: 80},
			Has:  cache.HasStatus | cache.HasTCPState | cache.HasMark, Status: 1<<1 | 1<<2 | 1<<3, TCPState: 3, Mark: 3},
			`<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.1</src><dst>198.18.0.2</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>1000</sport><dport>80</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.2</src><dst>198.18.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>80</sport><dport>1000</dport></layer4></meta><meta direction="independent"><state>ESTABLISHED</state><mark>3</mark><assured/></meta></flow>`},
		{"icmp unreplied: no layer 4 fields", cache.Flow{
			Orig: cache.Tuple{Src: a("198.18.0.1"), Dst: a("198.18.0.3"), Proto: 1, ICMPType: 8, ICMPID: 77},
			Has:  cache.HasStatus | cache.HasMark, Status: 1 << 3},
			`<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.1</src><dst>198.18.0.3</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.3</src><dst>198.18.0.1</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="independent"><mark>0</mark><unreplied/></meta></flow>`},
		{"udp over ipv6", cache.Flow{
			Orig: cache.Tuple{Src: a("2001:db8::1"), Dst: a("2001:db8::2"), Proto: 17, SrcPort: 1000, DstPort: 53},
			Has:  cache.HasStatus | cache.HasMark, Status: 1 << 3},
			`<flow><meta direction="original"><layer3 protonum="10" protoname="ipv6"><src>2001:db8::1</src><dst>2001:db8::2</dst></layer3><layer4 protonum="17" protoname="udp"><sport>1000</sport><dport>53</dport></layer4></meta><meta direction="reply"><layer3 protonum="10" protoname="ipv6"><src>2001:db8::2</src><dst>2001:db8::1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>53</sport><dport>1000</dport></layer4></meta><meta direction="independent"><mark>0</mark><unreplied/></meta></flow>`},
		{"helper name with markup is escaped", cache.Flow{
			Orig: cache.Tuple{Src: a("198.18.0.1"), Dst: a("198.18.0.2"), Proto: 47, SrcPort: 5, DstPort: 6},
			Has:  cache.HasHelper, Helper: cache.MakeName("a<b&")},
			`<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.1</src><dst>198.18.0.2</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x5</srckey><dstkey>0x6</dstkey></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.2</src><dst>198.18.0.1</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x6</srckey><dstkey>0x5</dstkey></layer4></meta><helper>a&lt;b&amp;</helper></flow>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendFlowXML(nil, &cache.Entry{Flow: tt.f}))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestAppendExpectXML(t *testing.T) {
	a := netip.MustParseAddr
	x := cache.Expect{
		Tuple:  cache.Tuple{Src: a("198.18.0.40"), Dst: a("198.18.0.41"), Proto: 6, DstPort: 40000},
		Mask:   cache.Tuple{Src: a("255.255.255.255"), Dst: a("255.255.255.255"), Proto: 6, DstPort: 0xffff},
		Master: cache.Tuple{Src: a("198.18.0.40"), Dst: a("198.18.0.41"), Proto: 6, SrcPort: 3000, DstPort: 21},
		Has:    cache.ExpHasMask | cache.ExpHasMaster | cache.ExpHasHelper | cache.ExpHasClass | cache.ExpHasFlags,
		Helper: cache.MakeName("ftp"), Flags: 1,
	}
	want := `<flow><layer3 protonum="2" protoname="ipv4"><expected><src>198.18.0.40</src><dst>198.18.0.41</dst></expected><mask><src>255.255.255.255</src><dst>255.255.255.255</dst></mask><master><src>198.18.0.40</src><dst>198.18.0.41</dst></master></layer3><layer4 protonum="6" protoname="tcp"><expected><sport>0</sport><dport>40000</dport></expected><mask><sport>0</sport><dport>65535</dport></mask><master><sport>3000</sport><dport>21</dport></master></layer4><meta><helper-name>ftp</helper-name><class>0</class><permanent/></meta></flow>`
	if got := string(AppendExpectXML(nil, &cache.ExpEntry{Expect: x})); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// FuzzRenderXML: any cache entry renders to one line of well-formed XML.
func FuzzRenderXML(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 300))
	f.Add(bytes.Repeat([]byte{0x01, 0x06, 0x80, '<', '&'}, 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, x, _ := fuzzFlow(data)
		for _, l := range [][]byte{AppendFlowXML(nil, &e), AppendExpectXML(nil, &x)} {
			if bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("newline in %q", l)
			}
			d := xml.NewDecoder(bytes.NewReader(l))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v: %s", err, l)
				}
			}
		}
	})
}
