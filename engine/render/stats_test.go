package render

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link"
)

func udpLink(active bool, st link.Stats) link.LinkStatus {
	return link.LinkStatus{Name: "primary", Interface: "lo", Transport: link.UDP, State: "RUNNING", Active: active, Stats: st}
}

// TestStatsTextLegacy: with the counters conntrackd 1.4.7 had, each
// section reads byte for byte as its `conntrackd -s SECTION` did
// (testdata/legacy-s-*.txt, captured from an FT-FW daemon on UDP).
func TestStatsTextLegacy(t *testing.T) {
	internal := cache.Stats{Active: 0, Objects: 0, Created: 14, Destroyed: 14}
	external := cache.Stats{Active: 1, Objects: 1, Created: 15, Destroyed: 14}
	snap := func(st link.Stats) *Snapshot {
		return &Snapshot{
			Uptime:   4*time.Minute + 59*time.Second,
			Internal: &internal, External: &external,
			Ingest:      Ingest{Events: 26, ReadBuffer: 2097152},
			Mode:        "ftfw",
			Links:       []link.LinkStatus{udpLink(true, st)},
			ResendQueue: ResendQueue{Len: 1, Items: []ResendItem{{Control: true, Seq: 1795980573, Flags: 8}}},
		}
	}
	tests := []struct {
		section Section
		file    string
		link    link.Stats
	}{
		{SectionGeneral, "general", link.Stats{BytesSent: 6320, BytesReceived: 5928, PacketsSent: 302, PacketsReceived: 230}},
		{SectionCache, "cache", link.Stats{}},
		{SectionRuntime, "runtime", link.Stats{}},
		{SectionNetwork, "network", link.Stats{BytesSent: 6320, BytesReceived: 5944, PacketsSent: 302, PacketsReceived: 231}},
		{SectionLink, "link", link.Stats{BytesSent: 6336, BytesReceived: 5944, PacketsSent: 303, PacketsReceived: 231}},
		{SectionRSQueue, "rsqueue", link.Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want, err := os.ReadFile("testdata/legacy-s-" + tt.file + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendStatsText(nil, snap(tt.link), tt.section)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant (conntrackd)\n%s", got, want)
			}
		})
	}
}

// TestStatsTextAll: every section once, the active link's block once,
// disabled caches and an unknown section.
func TestStatsTextAll(t *testing.T) {
	in := cache.Stats{Active: 3}
	s := &Snapshot{Internal: &in, Mode: "notrack",
		Links: []link.LinkStatus{udpLink(false, link.Stats{}), udpLink(true, link.Stats{BytesSent: 77})}}
	b, err := AppendStatsText(nil, s, SectionAll)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{"cache internal:", "cache:internal", "daemon uptime:", "network statistics:",
		"role=BACKUP", "role=ACTIVE", "sync mode notrack:", "control socket:"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, absent := range []string{"cache external", "resent queue"} {
		if strings.Contains(out, absent) {
			t.Errorf("%q in\n%s", absent, out)
		}
	}
	if n := strings.Count(out, "(active device=lo)"); n != 1 {
		t.Errorf("active link block %d times", n)
	}
	if _, err := AppendStatsText(nil, s, "bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown section: %v", err)
	}
}

// TestStatsJSON: one valid object with the names docs/control.md gives.
func TestStatsJSON(t *testing.T) {
	in := cache.Stats{Active: 3, Objects: 4, CreateNoSpace: 2}
	conn := true
	l := udpLink(true, link.Stats{BytesSent: 77, Lost: 5})
	l.Server = &conn
	s := &Snapshot{Uptime: 90 * time.Second, Internal: &in, Mode: "ftfw", Links: []link.LinkStatus{l},
		Ingest: Ingest{Events: 9, ReadBuffer: 4096}, ResendQueue: ResendQueue{Len: 2}}
	s.Sync.Applied = 11
	s.Control.Busy = 1
	b := AppendStatsJSON([]byte("x"), s)
	var got struct {
		Uptime int
		Caches map[string]map[string]int
		Ingest map[string]int
		Sync   map[string]any
		Links  []map[string]any
		RSQ    map[string]int `json:"resend_queue"`
		Ctl    map[string]int `json:"control"`
	}
	if err := json.Unmarshal(b[1:], &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.Uptime != 90 || got.Caches["internal"]["active"] != 3 || got.Caches["internal"]["create_no_space"] != 2 ||
		got.Caches["external"] != nil || got.Ingest["events"] != 9 || got.Ingest["read_buffer"] != 4096 ||
		got.Sync["mode"] != "ftfw" || got.Sync["applied"] != 11.0 || got.RSQ["len"] != 2 || got.Ctl["busy"] != 1 ||
		len(got.Links) != 1 || got.Links[0]["transport"] != "udp" || got.Links[0]["bytes_sent"] != 77.0 ||
		got.Links[0]["lost"] != 5.0 || got.Links[0]["server_connected"] != true || got.Links[0]["active"] != true {
		t.Errorf("%s", b)
	}
}
