package syncmode_test

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/syncmode"
)

// capturedStream returns the datagrams node 1 (a legacy conntrackd 1.4.7)
// sent to node 2 in a captured scenario (link/wire/testdata/README.md).
func capturedStream(t testing.TB, file string) [][]byte {
	t.Helper()
	ar, err := txtar.ParseFile("../../link/wire/testdata/captures/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range ar.Files {
		if !strings.HasSuffix(f.Name, " 198.51.100.1>198.51.100.2") {
			continue
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(string(f.Data)), ""))
		if err != nil {
			t.Fatalf("%s: %s: %v", file, f.Name, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no datagram from node 1", file)
	}
	return out
}

// A legacy sender's stream, fed to the receiving side of the mode it ran,
// builds the external cache the scenario describes: the flows it inserted,
// the UPDATE's mark, the destroyed SYN_SENT flow gone, the zone kept, and
// nothing left after the final `conntrack -F`.
func TestCapturedLegacyStream(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind syncmode.Kind
	}{
		{"notrack-udp.txtar", syncmode.NoTrack},
		{"ftfw-udp.txtar", syncmode.FTFW},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := newNode(t, "b", nodeOpts{kind: tc.kind, seed: 9})
			addr := func(s string) netip.Addr { return netip.MustParseAddr(s) }
			var (
				peak            int
				mark9, zone5    bool
				synSentSeen     bool
				synSentGoneLive bool // gone while the others still live
			)
			synSent := cache.Key{Orig: cache.Tuple{Src: addr("198.18.0.11"), Dst: addr("198.18.0.20"), Proto: 6, SrcPort: 1235, DstPort: 443}}
			for i, d := range capturedStream(t, tc.file) {
				if err := b.m.Receive(0, d, t0); err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				flows := live(b.ext)
				peak = max(peak, len(flows))
				for k, m := range flows {
					if k.Orig.Src == addr("198.18.0.10") && k.Orig.SrcPort == 1234 && m == 9 {
						mark9 = true
					}
					if k.Zone == 5 && k.Orig.Src == addr("198.18.0.80") {
						zone5 = true
					}
				}
				if _, ok := flows[synSent]; ok {
					synSentSeen = true
				} else if synSentSeen && len(flows) > 10 {
					synSentGoneLive = true
				}
			}
			if !synSentSeen || !synSentGoneLive {
				t.Errorf("SYN_SENT flow: seen %v, removed by its DEL %v", synSentSeen, synSentGoneLive)
			}
			if !mark9 || !zone5 {
				t.Errorf("mark 9 update applied %v, zone 5 flow kept %v", mark9, zone5)
			}
			if peak < 15 {
				t.Errorf("at most %d flows in the external cache, want the scenario's 15 or more", peak)
			}
			if n := len(live(b.ext)); n != 0 {
				t.Errorf("%d flows left after the sender's flush", n)
			}
			if s := b.m.Stats(); s.Malformed != 0 || s.Rejected != 0 || s.Lost != 0 || s.Applied == 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// A legacy FT-FW sender's expectations (the FTP-through-NAT scenario of
// link/wire/testdata/README.md) reach the external expectation cache:
// both the active (PORT, NAT direction 1) and the passive (PASV,
// direction 0) data connection's, with helper, function and master.
func TestCapturedLegacyExpectations(t *testing.T) {
	b := newNode(t, "b", nodeOpts{kind: syncmode.FTFW, seed: 9, exps: true})
	dirs := map[uint32]bool{}
	for i, d := range capturedStream(t, "ftpnat/ftfw-udp-ftpnat.txtar") {
		if err := b.m.Receive(0, d, t0); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		for _, e := range b.expExt.All() {
			x := &e.Expect
			if x.Helper.String() == "ftp" && x.Fn.String() == "nat-follow-master" &&
				x.Master.DstPort == 21 && x.Has&cache.ExpHasNAT != 0 {
				dirs[x.NATDir] = true
			}
		}
	}
	if !dirs[0] || !dirs[1] {
		t.Errorf("FTP expectations seen with NAT directions %v, want 0 (PASV) and 1 (PORT)", dirs)
	}
	if s := b.m.Stats(); s.Malformed != 0 || s.Rejected != 0 || s.ExpIgnored != 0 {
		t.Errorf("stats %+v", s)
	}
}
