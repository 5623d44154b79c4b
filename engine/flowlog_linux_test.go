package engine

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// statsFlows are `conntrack -I` arguments of synthetic flows (198.18.0.0/15
// and 2001:db8::/32, carrying no traffic) that the oracle destroys.
var statsFlows = [][]string{
	{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "80", "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED", "-m", "7"},
	{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.18.0.3", "--sport", "1001", "--dport", "80", "--state", "TIME_WAIT", "-u", "SEEN_REPLY"},
	{"-p", "udp", "-s", "198.18.0.1", "-d", "198.18.0.2", "--sport", "1000", "--dport", "53"},
	{"-p", "icmp", "-s", "198.18.0.1", "-d", "198.18.0.3", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "77"},
	{"-p", "tcp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "1000", "--dport", "22", "--state", "SYN_SENT", "-w", "5"},
	{"-p", "sctp", "-s", "198.18.0.1", "-d", "198.18.0.9", "--sport", "5", "--dport", "6", "--state", "ESTABLISHED", "--orig-vtag", "1", "--reply-vtag", "2"},
	{"-p", "icmpv6", "-s", "2001:db8::1", "-d", "2001:db8::3", "--icmpv6-type", "128", "--icmpv6-code", "0", "--icmpv6-id", "9"},
	{"-p", "gre", "-s", "198.18.0.1", "-d", "198.18.0.9", "--srckey", "5", "--dstkey", "6"},
	{"-p", "50", "-s", "198.18.0.1", "-d", "198.18.0.10"},
}

// TestOracleFlowLog: conntrackd 1.4.7 in stats mode and ctsync's
// FlowLog run side by side in one namespace, with accounting and
// timestamps on; the flows that end there (synthetic ones of many
// protocols, a NAT set-up, real ICMP and TCP traffic with its counters)
// are logged by both with the same lines but for the time stamp.
func TestOracleFlowLog(t *testing.T) {
	netnstest.RequirePrivileged(t)
	legacyd.Require(t)
	ns := netnstest.NewNetNS(t)
	ns.Exec(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1")
	// Traffic is tracked only once a rule needs conntrack.
	ns.Exec(t, "nft", "add table inet t; add chain inet t c { type filter hook output priority 0; }; add rule inet t c ct state new accept")
	ns.Exec(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "lo")

	dir := t.TempDir()
	files := legacyd.FilesIn(filepath.Join(dir, "legacy"))
	theirs := filepath.Join(dir, "legacy-flows.log")
	legacyd.Start(t, ns, "the namespace", files, legacyd.General(files, "")+"Stats {\n\tLogFile "+theirs+"\n}\n")

	ours := filepath.Join(dir, "flows.log")
	rt := runtimeOf(t, "stats {\n  log_file = \""+ours+"\"\n}\n")
	var l *FlowLog
	var w *ctnl.Writer
	if err := ns.Do(func() error {
		var err error
		if l, err = OpenFlowLog(rt, Options{Log: testLogger(io.Discard)}); err != nil {
			return err
		}
		w, err = ctnl.NewWriter(ctnl.WriterConfig{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		l.Close()
	})
	select {
	case <-l.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the flow log did not start")
	}

	for _, args := range statsFlows {
		ns.Exec(t, "conntrack", append([]string{"-I", "-t", "300"}, args...)...)
	}
	// A NAT as the kernel's NAT sets it up, which conntrack -I cannot.
	natted := &ctnl.Flow{
		Orig:    ctnl.Tuple{Src: netip.MustParseAddr("198.18.0.5"), Dst: netip.MustParseAddr("198.18.0.6"), Proto: 6, SrcPort: 1000, DstPort: 80},
		Status:  ctnl.StatusSeenReply | ctnl.StatusAssured | ctnl.StatusConfirmed,
		Timeout: 300, Present: ctnl.HasProtoInfo, TCP: ctnl.TCPInfo{State: 3},
		SNAT: ctnl.NAT{MinAddr: netip.MustParseAddr("198.18.1.1"), MaxAddr: netip.MustParseAddr("198.18.1.1"), MinPort: 2000, MaxPort: 2000},
	}
	natted.Reply = natted.Orig.Invert()
	errs := make([]error, 1)
	if err := w.Apply([]ctnl.Request{{Op: ctnl.OpCreate, Flow: natted}}, errs); err != nil || errs[0] != nil {
		t.Fatalf("create the NAT flow: %v %v", err, errs[0])
	}
	// Real traffic, counted: a ping and a TCP exchange.
	ns.Exec(t, "ping", "-c", "2", "-i", "0.2", "198.51.100.1")
	tcpExchange(t, ns)

	// Both must have seen every flow before the table is emptied:
	// a flow neither cache holds is not logged.
	want := len(statsFlows) + 3
	waitFor(t, "both daemons to hold every flow", func() bool {
		return int(l.Snapshot().Internal.Active) >= want && legacyActive(t, ns, files.Conf) >= want
	})
	ns.Exec(t, "conntrack", "-D")

	var a, b []string
	waitFor(t, "both flow logs to have a line per flow", func() bool {
		a, b = logLines(t, theirs), logLines(t, ours)
		return len(a) >= want && len(b) >= want
	})
	t.Logf("both logged:\n%s", strings.Join(b, "\n"))
	if !slices.Equal(a, b) {
		t.Errorf("the flow logs differ:\nconntrackd:\n%s\nctsync:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	// The traffic is counted as conntrackd counts it.
	s := strings.Join(strings.Fields(ns.Exec(t, "conntrackd", "-C", files.Conf, "-s")), " ")
	tr := l.Snapshot().Traffic
	if wantS := "traffic processed: " + itoa(tr.Bytes) + " Bytes " + itoa(tr.Packets) + " Pckts"; tr.Packets == 0 || !strings.Contains(s, wantS) {
		t.Errorf("conntrackd -s says %q; ctsync counted %+v", s, tr)
	}
}

// tcpExchange opens a TCP connection to 198.51.100.1 in ns, sends a
// line each way and closes it.
func tcpExchange(t *testing.T, ns *netnstest.NetNS) {
	t.Helper()
	var ln net.Listener
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", "198.51.100.1:0"); err != nil {
			return err
		}
		c, err = net.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello\n"))
	buf := make([]byte, 6)
	io.ReadFull(s, buf)
	s.Write(buf)
	io.ReadFull(c, buf)
	c.Close()
	s.Close()
}

// logLines are a flow log's lines without their time stamp, sorted.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if _, flow, ok := strings.Cut(line, "\t"); ok {
			out = append(out, flow)
		}
	}
	slices.Sort(out)
	return out
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// legacyActive is the number of flows in conntrackd's cache (-s).
func legacyActive(t *testing.T, ns *netnstest.NetNS, conf string) int {
	t.Helper()
	out := ns.Exec(t, "conntrackd", "-C", conf, "-s")
	_, rest, _ := strings.Cut(out, "current active connections:")
	f := strings.Fields(rest)
	if len(f) == 0 {
		t.Fatalf("conntrackd -s says no active connections:\n%s", out)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
