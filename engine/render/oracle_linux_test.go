package render_test

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// activeSince is the one field that legitimately differs: conntrackd's
// object and ours were created at different moments.
var activeSince = regexp.MustCompile(` \[active since \d+s\]$`)

func normalise(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, activeSince.ReplaceAllString(l, " [active since Ns]"))
		}
	}
	slices.Sort(out)
	return out
}

// The flows of the oracle: `conntrack -I` arguments (synthetic entries
// in 198.18.0.0/15 and 2001:db8::/32, carrying no traffic).
var conntrackFlows = [][]string{
	{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "80", "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED"},
	{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.3", "--sport", "1001", "--dport", "80", "--state", "TIME_WAIT", "-u", "SEEN_REPLY"},
	{"-p", "udp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "53", "-m", "7"},
	{"-p", "icmp", "-s", "198.18.0.1", "-d", "198.18.0.3", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "77"},
	{"-p", "tcp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "1000", "--dport", "22", "--state", "SYN_SENT", "-w", "5"},
	{"-p", "sctp", "-s", "198.18.0.1", "-d", "198.18.0.9", "--sport", "5", "--dport", "6", "--state", "ESTABLISHED", "--orig-vtag", "1", "--reply-vtag", "2"},
	{"-p", "icmpv6", "-s", "2001:db8::1", "-d", "2001:db8::3", "--icmpv6-type", "128", "--icmpv6-code", "0", "--icmpv6-id", "9"},
	{"-p", "udplite", "-s", "198.18.0.1", "-d", "198.18.0.9", "--sport", "5", "--dport", "6"},
	{"-p", "gre", "-s", "198.18.0.1", "-d", "198.18.0.9", "--srckey", "5", "--dstkey", "6"},
	{"-p", "50", "-s", "198.18.0.1", "-d", "198.18.0.10"},
	{"-p", "dccp", "-s", "198.18.0.1", "-d", "198.18.0.9", "--sport", "5", "--dport", "6", "--state", "OPEN", "--role", "client"},
}

// TestOracleInternalDump: the same kernel flows, listed by conntrackd
// 1.4.7's `-i` (its internal cache, filled by its start-up dump) and by
// ctsync (dumped with ctnl, converted with engine.CacheFromKernel into
// an internal cache, rendered with AppendFlowText), give the same lines
// but for the age. The flows cover TCP states, UDP, ICMP, IPv6, a zone,
// a mark, source and destination NAT with ports, SCTP, ICMPv6, UDP-Lite,
// GRE, an unknown protocol, DCCP (which this kernel tracks as generic),
// a helper and labels (which neither prints); and the expectation of
// the FTP flow, listed by `-i expect`.
func TestOracleInternalDump(t *testing.T) {
	netnstest.RequirePrivileged(t)
	legacyd.Require(t)
	ns := netnstest.NewNetNS(t)
	// The kernel keeps labels only once a rule uses them.
	ns.Exec(t, "nft", "add table inet t; add chain inet t c; add rule inet t c ct label set 1")
	for _, args := range conntrackFlows {
		ns.Exec(t, "conntrack", append([]string{"-I", "-t", "300"}, args...)...)
	}
	var w *ctnl.Writer
	var table *ctnl.Table
	if err := ns.Do(func() error {
		var err error
		if w, err = ctnl.NewWriter(ctnl.WriterConfig{}); err != nil {
			return err
		}
		table, err = ctnl.OpenTable(ctnl.TableConfig{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); table.Close() })

	// An FTP control connection with its helper and two labels, and the
	// data connection it expects.
	ftp := &ctnl.Flow{
		Orig:    ctnl.Tuple{Src: netip.MustParseAddr("198.18.0.40"), Dst: netip.MustParseAddr("198.18.0.41"), Proto: 6, SrcPort: 3000, DstPort: 21},
		Status:  1<<1 | 1<<2 | 1<<3,
		Timeout: 300, Present: ctnl.HasProtoInfo, TCP: ctnl.TCPInfo{State: 3},
		Helper: "ftp", Labels: make([]byte, 16),
	}
	ftp.Labels[0] = 0x5
	ftp.Reply = ftp.Orig.Invert()
	// A NAT set up as the kernel's NAT does it (conntrack -I with a
	// reply tuple sets no NAT status: see docs/compat.md).
	natted := &ctnl.Flow{
		Orig:    ctnl.Tuple{Src: netip.MustParseAddr("198.18.0.5"), Dst: netip.MustParseAddr("198.18.0.6"), Proto: 6, SrcPort: 1000, DstPort: 80},
		Status:  1<<1 | 1<<2 | 1<<3,
		Timeout: 300, Present: ctnl.HasProtoInfo, TCP: ctnl.TCPInfo{State: 3},
		SNAT: ctnl.NAT{MinAddr: netip.MustParseAddr("198.18.1.1"), MaxAddr: netip.MustParseAddr("198.18.1.1"), MinPort: 2000, MaxPort: 2000},
		DNAT: ctnl.NAT{MinAddr: netip.MustParseAddr("198.18.2.2"), MaxAddr: netip.MustParseAddr("198.18.2.2"), MinPort: 8080, MaxPort: 8080},
	}
	natted.Reply = natted.Orig.Invert()
	exp := &ctnl.Expect{
		Master:  ftp.Orig,
		Tuple:   ctnl.Tuple{Src: ftp.Orig.Src, Dst: ftp.Orig.Dst, Proto: 6, DstPort: 40000},
		Mask:    ctnl.Tuple{Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.255"), Proto: 6, DstPort: 0xffff},
		Timeout: 300, Helper: "ftp",
	}
	reqs := []ctnl.Request{{Op: ctnl.OpCreate, Flow: ftp}, {Op: ctnl.OpCreate, Expect: exp}, {Op: ctnl.OpCreate, Flow: natted}}
	errs := make([]error, len(reqs))
	if err := w.Apply(reqs, errs); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %s: %v", &reqs[i], err)
		}
	}

	// ctsync's side.
	now := time.Now()
	flows, err := cache.NewFlows(cache.Settings{Buckets: 64, Limit: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Dump(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		var f cache.Flow
		engine.CacheFromKernel(&f, &ev.Flow)
		flows.Update(&f, now)
		return nil
	}, func(err error) { t.Errorf("dump entry skipped: %v", err) }); err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, e := range flows.All() {
		ours = append(ours, string(render.AppendFlowText(nil, e, now)))
	}
	if want := len(conntrackFlows) + 2; len(ours) != want {
		t.Fatalf("%d flows in the kernel table, want %d:\n%s", len(ours), want, strings.Join(ours, "\n"))
	}
	expects, err := cache.NewExpects(cache.Settings{Buckets: 64, Limit: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := table.DumpExpect(ctnl.FamilyAll, func(ev *ctnl.Event) error {
		expects.Update(cacheExpect(ev.Expect), now)
		return nil
	}, func(err error) { t.Errorf("dump entry skipped: %v", err) }); err != nil {
		t.Fatal(err)
	}
	var ourExpects []string
	for _, e := range expects.All() {
		ourExpects = append(ourExpects, string(render.AppendExpectText(nil, e, now)))
	}

	// conntrackd's side: its start-up dump fills the internal cache.
	f := legacyd.FilesIn(filepath.Join(t.TempDir(), "conntrackd"))
	conf := "Sync {\n\tMode FTFW { }\n\tUDP { IPv4_address 127.0.0.1 IPv4_Destination_Address 127.0.0.2 Port 3780 Interface lo }\n" +
		"\tOptions { ExpectationSync on }\n}\n" + legacyd.General(f, "")
	d := legacyd.Start(t, ns, "oracle", f, conf)
	var theirs, theirExpects []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		theirs = strings.Split(d.MustCtl(t, "-i"), "\n")
		theirExpects = strings.Split(d.MustCtl(t, "-i", "expect"), "\n")
		if len(normalise(theirs)) >= len(ours) && len(normalise(theirExpects)) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("conntrackd -i:\n%s\nconntrackd -i expect:\n%s", strings.Join(theirs, "\n"), strings.Join(theirExpects, "\n"))
	compare(t, "conntrackd -i", ours, theirs)
	compare(t, "conntrackd -i expect", ourExpects, theirExpects)
}

// compare reports the lines only one side has, once normalised.
func compare(t *testing.T, what string, ours, theirs []string) {
	t.Helper()
	o, th := normalise(ours), normalise(theirs)
	for _, l := range o {
		if !slices.Contains(th, l) {
			t.Errorf("ctsync only: %s", l)
		}
	}
	for _, l := range th {
		if !slices.Contains(o, l) {
			t.Errorf("%s only: %s", what, l)
		}
	}
	if len(o) == 0 {
		t.Errorf("%s: nothing to compare", what)
	}
}

// cacheExpect is the cache's form of a kernel expectation, the way the
// engine will fill it (the engine has no such conversion yet).
func cacheExpect(e *ctnl.Expect) *cache.Expect {
	x := &cache.Expect{
		Tuple: cache.Tuple(e.Tuple), Zone: e.Zone,
		Has:    cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasTimeout | cache.ExpHasFlags | cache.ExpHasClass,
		Master: cache.Tuple(e.Master), Mask: cache.Tuple(e.Mask),
		Timeout: e.Timeout, Flags: e.Flags, Class: e.Class,
	}
	if e.Helper != "" {
		x.Helper = cache.MakeName(e.Helper)
		x.Has |= cache.ExpHasHelper
	}
	return x
}
