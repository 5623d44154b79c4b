package wire

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// Captures are stored as txtar archives: the comment says how the capture
// was made, each file is one UDP payload named "NNN SRC>DST", written as
// hex in 4-byte words so a reviewer can read it against the spec.
var (
	pcapIn      = flag.String("pcap", "", "TestImportPcap: pcap file to turn into a fixture")
	fixtureOut  = flag.String("fixture", "", "TestImportPcap: txtar fixture to write")
	fixtureNote = flag.String("note", "", "TestImportPcap: comment for the fixture (how it was made)")
)

type datagram struct {
	name    string
	payload []byte
}

func loadFixtures(t testing.TB) map[string][]datagram {
	t.Helper()
	files, err := filepath.Glob("testdata/captures/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture fixtures in testdata/captures (err %v)", err)
	}
	out := map[string][]datagram{}
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, af := range ar.Files {
			b, err := hex.DecodeString(strings.Join(strings.Fields(string(af.Data)), ""))
			if err != nil {
				t.Fatalf("%s: %s: %v", f, af.Name, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], datagram{af.Name, b})
		}
	}
	return out
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
	dgs, err := udpPayloads(data)
	if err != nil {
		t.Fatal(err)
	}
	ar := &txtar.Archive{Comment: []byte(*fixtureNote + "\n")}
	for i, d := range dgs {
		ar.Files = append(ar.Files, txtar.File{Name: fmt.Sprintf("%03d %s", i, d.name), Data: []byte(hexRows(d.payload))})
	}
	if err := os.WriteFile(*fixtureOut, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d datagrams to %s", len(dgs), *fixtureOut)
}

// udpPayloads extracts IPv4 UDP payloads from a classic pcap file with
// Ethernet framing (what tcpdump -w writes on a veth).
func udpPayloads(data []byte) ([]datagram, error) {
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
	var out []datagram
	for off := 24; off+16 <= len(data); {
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			return nil, fmt.Errorf("pcap: truncated record")
		}
		pkt := data[off : off+incl]
		off += incl
		if len(pkt) < 14+20 || binary.BigEndian.Uint16(pkt[12:]) != 0x0800 {
			continue
		}
		ip := pkt[14:]
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ip[9] != 17 || total > len(ip) || ihl+8 > total {
			continue
		}
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		out = append(out, datagram{src.String() + ">" + dst.String(), ip[ihl+8 : total]})
	}
	return out, nil
}
