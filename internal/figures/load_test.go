//go:build linux

package main

import (
	"encoding/binary"
	"testing"
)

func TestCountMessages(t *testing.T) {
	msg := func(payload int) []byte {
		l := 16 + payload
		b := make([]byte, (l+3)&^3)
		binary.NativeEndian.PutUint32(b, uint32(l))
		return b
	}
	var three []byte
	for _, p := range []int{100, 3, 0} {
		three = append(three, msg(p)...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"none", nil, 0},
		{"three, padded", three, 3},
		{"truncated last", three[:len(three)-1], 2},
		{"length below a header", append(msg(0), 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := countMessages(c.b); got != c.want {
				t.Errorf("countMessages = %d, want %d", got, c.want)
			}
		})
	}
}

func TestParseLinkStats(t *testing.T) {
	out := `[{"ifindex":9,"ifname":"veth0","mtu":1500,"stats64":{"rx":{"bytes":1,"packets":2},"tx":{"bytes":341680,"packets":6051,"errors":0}}}]`
	got, err := parseLinkStats([]byte(out))
	if err != nil || got != (traffic{341680, 6051}) {
		t.Errorf("parseLinkStats = %+v, %v; want 341680 bytes, 6051 packets", got, err)
	}
	for _, bad := range []string{"", "[]", `[{"ifname":"veth0"}]`, `[{},{}]`} {
		if _, err := parseLinkStats([]byte(bad)); err == nil {
			t.Errorf("parseLinkStats(%q): no error", bad)
		}
	}
}
