//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/legacyd"
)

// conntrackd 1.4.7's `-s` output, captured, with counts set apart.
const legacyStats = `cache internal:
current active connections:	        5300
connections created:		        5301	failed:	           0
connections updated:		         600	failed:	           0
connections destroyed:		           1	failed:	           0

cache external:
current active connections:	        5299
connections created:		        5310	failed:	           0
connections updated:		        7000	failed:	           0
connections destroyed:		          11	failed:	           0

traffic processed:
                   0 Bytes                         0 Pckts

UDP traffic (active device=veth0):
                 564 Bytes sent                 1128 Bytes recv
                   6 Pckts sent                   12 Pckts recv
                   0 Error send                    0 Error recv

message tracking:
                   0 Malformed msgs                    0 Lost msgs

`

func TestParseLegacyStats(t *testing.T) {
	for _, c := range []struct {
		name, out string
		want      counters
		err       string
	}{
		{"captured", legacyStats, counters{Internal: 5300, External: 5299, Applied: 5310 + 7000}, ""},
		{"no external cache", strings.Split(legacyStats, "cache external:")[0], counters{}, "no active connections"},
		{"empty", "", counters{}, "no active connections"},
		{"not a count", strings.Replace(legacyStats, "        5299", "        lots", 1), counters{}, "not a count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLegacyStats(c.out)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestParseLegacyRuntime(t *testing.T) {
	out := "netlink stats:\n\tevents received:\t                  12\n\tnetlink overrun:\t\t           3\n\tflush kernel table:\t\t           0\n"
	if got, err := parseLegacyOverruns(out); err != nil || got != 3 {
		t.Errorf("parseLegacyOverruns = %d, %v; want 3", got, err)
	}
	if _, err := parseLegacyOverruns("runtime stats:\n"); err == nil {
		t.Error("no netlink overrun line: no error")
	}
	if got, err := parseLegacyQueue("resent queue (len=17)\n"); err != nil || got != 17 {
		t.Errorf("parseLegacyQueue = %d, %v; want 17", got, err)
	}
	for _, bad := range []string{"", "resent queue (len=x)"} {
		if _, err := parseLegacyQueue(bad); err == nil {
			t.Errorf("parseLegacyQueue(%q): no error", bad)
		}
	}
}

// conntrackd's configuration is sized for N: its hash table at or above
// N buckets, and room for twice N in its caches and resend queue.
func TestLegacyConfSized(t *testing.T) {
	for _, c := range []struct {
		n           int
		hash, limit string
	}{
		{5000, "HashSize 65536", "HashLimit 75536"},
		{100000, "HashSize 131072", "HashLimit 265536"},
		{1000000, "HashSize 1048576", "HashLimit 2065536"},
	} {
		conf := legacyConfFor(c.n)
		for _, want := range []string{c.hash, c.limit, "ResendQueueSize " + strings.TrimPrefix(c.limit, "HashLimit "),
			"SndSocketBuffer 25165824", "NetlinkBufferSize 33554432", "TCP\n\t\t\tUDP"} {
			if !strings.Contains(conf, want) {
				t.Errorf("N=%d: configuration lacks %q:\n%s", c.n, want, conf)
			}
		}
	}
}

func legacyConfFor(n int) string {
	return legacyConfAt(legacyd.FilesIn("/run/test"), "198.51.100.129", "198.51.100.130", "veth0", n)
}
