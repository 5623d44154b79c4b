package render

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

func ftpExpect() cache.ExpEntry {
	return cache.ExpEntry{Expect: cache.Expect{
		Tuple: tuple("198.18.0.40", "198.18.0.41", 6, 0, 40000),
		Has:   cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasTimeout | cache.ExpHasFlags | cache.ExpHasClass | cache.ExpHasHelper,
		Mask:  tuple("255.255.255.255", "255.255.255.255", 6, 0, 65535), Master: tuple("198.18.0.40", "198.18.0.41", 6, 3000, 21),
		Timeout: 300, Helper: cache.MakeName("ftp"),
	}, State: cache.Alive, Created: t0, Updated: t0}
}

// TestExpectText: the first line is what conntrackd 1.4.7's `-i expect`
// printed for this expectation (the oracle test does it live); flags
// and a zone go where libnetfilter_conntrack puts them.
func TestExpectText(t *testing.T) {
	e := ftpExpect()
	got := string(AppendExpectText(nil, &e, t0))
	want := "proto=6 src=198.18.0.40 dst=198.18.0.41 sport=0 dport=40000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=198.18.0.40 master-dst=198.18.0.41 sport=3000 dport=21 class=0 helper=ftp [active since 0s]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	e.Expect.Flags, e.Expect.Zone = 1|4, 3
	e.Expect.Has &^= cache.ExpHasMask
	got = string(AppendExpectText(nil, &e, t0.Add(3*time.Second)))
	want = "proto=6 src=198.18.0.40 dst=198.18.0.41 sport=0 dport=40000 master-src=198.18.0.40 master-dst=198.18.0.41 sport=3000 dport=21 zone=3 PERMANENT,USERSPACE class=0 helper=ftp [active since 3s]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestExpectJSON(t *testing.T) {
	e := ftpExpect()
	e.Expect.Has |= cache.ExpHasNAT | cache.ExpHasNATDir | cache.ExpHasFn
	e.Expect.NAT = cache.Tuple{Src: ip4("0.0.0.0"), Dst: ip4("0.0.0.0"), Proto: 6, SrcPort: 2000}
	e.Expect.NATDir, e.Expect.Flags, e.Expect.Fn = 1, 2, cache.MakeName("nat-follow-master")
	b := AppendExpectJSON(nil, &e, t0.Add(4*time.Second))
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{
		"family": "ipv4", "proto": "tcp", "protonum": 6.0,
		"tuple":  map[string]any{"src": "198.18.0.40", "dst": "198.18.0.41", "sport": 0.0, "dport": 40000.0},
		"mask":   map[string]any{"src": "255.255.255.255", "dst": "255.255.255.255", "sport": 0.0, "dport": 65535.0},
		"master": map[string]any{"src": "198.18.0.40", "dst": "198.18.0.41", "sport": 3000.0, "dport": 21.0},
		"nat":    map[string]any{"src": "0.0.0.0", "dst": "0.0.0.0", "sport": 2000.0, "dport": 0.0},
		"zone":   0.0, "timeout": 300.0, "flags": []any{"INACTIVE"}, "class": 0.0, "nat_dir": 1.0,
		"helper": "ftp", "fn": "nat-follow-master", "entry": "alive", "age": 4.0, "idle": 4.0,
	}
	if !jsonEqual(got, want) {
		t.Errorf("got  %s\nwant %s", b, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
