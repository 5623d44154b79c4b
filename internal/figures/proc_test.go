//go:build linux

package main

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 %s %s 0 0 20 0 1 0 100 2000 300"
	for _, c := range []struct {
		name, stat string
		user, sys  time.Duration
		err        string
	}{
		{"plain", "42 (ctsync)" + sprintf(tail, "150", "25"), 1500 * time.Millisecond, 250 * time.Millisecond, ""},
		// A command name may hold spaces and parentheses: fields are
		// counted from the last ')'.
		{"odd name", "42 (a) b (c))" + sprintf(tail, "7", "3"), 70 * time.Millisecond, 30 * time.Millisecond, ""},
		{"no name", "42 ctsync S 1", 0, 0, "no ')'"},
		{"short", "42 (ctsync) S 1 2 3", 0, 0, "fields after the command name"},
		{"not a number", "42 (ctsync)" + sprintf(tail, "x", "3"), 0, 0, "not a tick count"},
		{"negative", "42 (ctsync)" + sprintf(tail, "1", "-3"), 0, 0, "not a tick count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			user, sys, err := parseStatCPU([]byte(c.stat))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || user != c.user || sys != c.sys {
				t.Fatalf("got %v, %v, %v; want %v, %v", user, sys, err, c.user, c.sys)
			}
		})
	}
}

func sprintf(format string, a, b string) string {
	return strings.Replace(strings.Replace(format, "%s", a, 1), "%s", b, 1)
}

func TestParseStatusRSS(t *testing.T) {
	for _, c := range []struct {
		name, status string
		rss          int64
		err          string
	}{
		{"plain", "Name:\tctsync\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads:\t7\n", 1234 << 10, ""},
		{"missing", "Name:\tctsync\nThreads:\t7\n", 0, "no VmRSS"},
		{"unit", "VmRSS:\t1234 MB\n", 0, "want"},
		{"number", "VmRSS:\tlots kB\n", 0, "not a size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rss, err := parseStatusRSS([]byte(c.status))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || rss != c.rss {
				t.Fatalf("got %d, %v; want %d", rss, err, c.rss)
			}
		})
	}
}

// The parsers read this very process: its own figures are sane.
func TestReadUsageSelf(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS < 1<<20 || u.CPU < u.Sys || u.Sys < 0 {
		t.Fatalf("usage of this process %+v: want RSS of at least 1 MiB and CPU >= Sys >= 0", u)
	}
}

// A million flows and more are distinct, each a valid established TCP
// flow from the range that carries no traffic: the fill would otherwise
// fail with EEXIST or create flows that real packets match.
func TestSyntheticFlowsDistinct(t *testing.T) {
	synthetic := netip.MustParsePrefix("198.18.0.0/15")
	seen := make(map[[2]uint64]int, 3*sources)
	for _, i := range []int{0, 1, sources - 1, sources, sources + 1, 7*sources + 12345, maxFlows - 1} {
		f := syntheticFlow(i)
		if !synthetic.Contains(f.Orig.Src) || !synthetic.Contains(f.Orig.Dst) {
			t.Errorf("flow %d: %v is outside %v", i, f.Orig, synthetic)
		}
		if f.Reply != f.Orig.Invert() || f.TCP.State != 3 {
			t.Errorf("flow %d: not an established flow: %+v", i, f)
		}
	}
	for i := range 3 * sources {
		f := syntheticFlow(i)
		a := f.Orig.Src.As4()
		k := [2]uint64{uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3]), uint64(f.Orig.SrcPort)}
		if j, dup := seen[k]; dup {
			t.Fatalf("flows %d and %d are both %v", j, i, f.Orig)
		}
		seen[k] = i
	}
}
