package engine

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/wire"
)

// An expectation the kernel's FTP helper creates on the primary (a real
// PORT command through nf_conntrack_ftp) goes the whole way the engine
// takes it: read from the primary's kernel, into the internal cache, onto
// the wire and off it, into the external cache, and committed with its
// master by ctnl.Writer into the backup's table, where `conntrack -L
// expect` lists it as the primary does: same expected tuple, mask, master,
// class and helper, and a timeout.
func TestExpectationPrimaryToBackup(t *testing.T) {
	netnstest.RequirePrivileged(t)
	client, server, backup := netnstest.NewNetNS(t), netnstest.NewNetNS(t), netnstest.NewNetNS(t)
	ifc, _ := netnstest.Veth(t, client, server,
		[]netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}, []netip.Prefix{netip.MustParsePrefix("203.0.113.2/24")})
	// The client's namespace is the primary: its ftp helper expects the
	// data connection the server is told to open.
	cmd := client.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table inet ftp {
	ct helper ftph { type "ftp" protocol tcp; }
	chain out { type filter hook output priority 0; oifname "` + ifc + `" tcp dport 21 ct helper set "ftph"; }
}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	const dataPort = 40010
	lab.FTPPort(t, client, server, "203.0.113.1", "203.0.113.2", dataPort)

	// Read the primary's table, as the engine's dump does.
	var kexp *ctnl.Expect
	var master cache.Flow
	haveMaster := false
	if err := client.Do(func() error {
		table, err := ctnl.OpenTable(ctnl.TableConfig{})
		if err != nil {
			return err
		}
		defer table.Close()
		if err := table.DumpExpect(ctnl.FamilyAll, func(ev *ctnl.Event) error {
			if ev.Expect.Tuple.DstPort == dataPort {
				e := *ev.Expect
				kexp = &e
			}
			return nil
		}, nil); err != nil {
			return err
		}
		return table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
			if kexp != nil && ev.Flow.Orig == kexp.Master {
				CacheFromKernel(&master, &ev.Flow)
				haveMaster = true
			}
			return nil
		}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	primary := client.Exec(t, "conntrack", "-L", "expect")
	if kexp == nil || !haveMaster {
		t.Fatalf("the primary's kernel has no expectation for port %d with its master (master found %v); conntrack -L expect:\n%s", dataPort, haveMaster, primary)
	}
	if kexp.Helper != "ftp" {
		t.Fatalf("the primary's expectation has helper %q, want ftp", kexp.Helper)
	}

	// Primary: internal caches and the messages sent from them.
	now := time.Now()
	o := ConvertOptions{}
	newFlows := func() *cache.Flows {
		c, err := cache.NewFlows(cache.Settings{Buckets: 64, Limit: 64})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	inFlows, extFlows := newFlows(), newFlows()
	inExp, extExp := newExpects(t), newExpects(t)
	var cexp cache.Expect
	CacheExpectFromKernel(&cexp, kexp)
	rf, _ := inFlows.Replace(&master, now)
	re, _ := inExp.Replace(&cexp, now)
	var fe cache.Entry
	var ee cache.ExpEntry
	inFlows.Get(rf, &fe)
	inExp.Get(re, &ee)
	var fm, em wire.Message
	fm.Type, em.Type = wire.TypeCTNew, wire.TypeExpNew
	WireFromCache(&fm.Flow, &fe.Flow, o)
	WireExpectFromCache(&em.Exp, &ee.Expect, o)
	datagram := wire.AppendMessage(wire.AppendMessage(nil, &fm), &em)

	// Backup: the messages into the external caches, then a commit,
	// flows first (src/cache-ct.c, then src/cache-exp.c).
	var got wire.Message
	n, err := wire.Decode(datagram, &got)
	if err != nil {
		t.Fatal(err)
	}
	var cf cache.Flow
	if err := CacheFromWire(&cf, &got.Flow); err != nil {
		t.Fatal(err)
	}
	ResolvePorts(&cf, nil)
	rf, _ = extFlows.Replace(&cf, now)
	if _, err := wire.Decode(datagram[n:], &got); err != nil {
		t.Fatal(err)
	}
	if err := CacheExpectFromWire(&cexp, &got.Exp); err != nil {
		t.Fatal(err)
	}
	re, _ = extExp.Replace(&cexp, now)
	extFlows.Get(rf, &fe)
	extExp.Get(re, &ee)
	var kf ctnl.Flow
	var ke ctnl.Expect
	if err := CommitFlow(&kf, &fe, now, o); err != nil {
		t.Fatal(err)
	}
	if err := CommitExpect(&ke, &ee, now, o); err != nil {
		t.Fatal(err)
	}
	if err := backup.Do(func() error {
		wr, err := ctnl.NewWriter(ctnl.WriterConfig{})
		if err != nil {
			return err
		}
		defer wr.Close()
		for _, r := range []ctnl.Request{{Op: ctnl.OpCreate, Flow: &kf}, {Op: ctnl.OpCreate, Expect: &ke}} {
			errs := make([]error, 1)
			if err := wr.Apply([]ctnl.Request{r}, errs); err != nil {
				return err
			}
			if errs[0] != nil {
				return fmt.Errorf("%s: %w", r.String(), errs[0])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	listing := backup.Exec(t, "conntrack", "-L", "expect")
	want, _ := expectLine(t, primary, dataPort)
	line, timeout := expectLine(t, listing, dataPort)
	if line != want {
		t.Errorf("the backup lists\n%s\nthe primary\n%s", line, want)
	}
	if timeout <= 0 || timeout > 300 {
		t.Errorf("the backup's expectation has timeout %d s, want 1 to 300 (the ftp helper's)", timeout)
	}
	for _, part := range []string{
		fmt.Sprintf("src=203.0.113.2 dst=203.0.113.1 sport=0 dport=%d", dataPort),
		"mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535",
		fmt.Sprintf("master-src=203.0.113.1 master-dst=203.0.113.2 sport=%d dport=21", kexp.Master.SrcPort),
		"helper=ftp",
	} {
		if !strings.Contains(line, part) {
			t.Errorf("the backup's expectation lacks %q:\n%s", part, line)
		}
	}
}

var expectTimeout = regexp.MustCompile(`^(\d+) `)

// expectLine returns the line of a `conntrack -L expect` listing that
// expects dport, without its leading timeout, and the timeout.
func expectLine(t *testing.T, listing string, dport int) (string, int) {
	t.Helper()
	for l := range strings.Lines(listing) {
		l = strings.TrimSpace(l)
		if !strings.Contains(l, fmt.Sprintf(" sport=0 dport=%d ", dport)) {
			continue
		}
		m := expectTimeout.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("no timeout in %q", l)
		}
		n, _ := strconv.Atoi(m[1])
		return l[len(m[0]):], n
	}
	t.Fatalf("no expectation for dport %d in:\n%s", dport, listing)
	return "", 0
}
