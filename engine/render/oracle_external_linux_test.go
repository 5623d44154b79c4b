package render_test

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/wire"
)

// TestOracleExternalDump: conntrackd A bulk-sends its table (NOTRACK,
// UDP); the test reads each datagram into an external cache as ctsync
// receives it (wire.Decode, engine.CacheFromWire) and passes it on to
// conntrackd B. B's `-e` and ctsync's external dump list the same
// flows, but for the age and the reply tuple, which conntrackd's
// external cache does not have (docs/compat.md). DCCP, whose stale
// ports the two treat differently on purpose, is left out.
func TestOracleExternalDump(t *testing.T) {
	netnstest.RequirePrivileged(t)
	legacyd.Require(t)
	ns := netnstest.NewNetNS(t)
	var flows [][]string
	for _, args := range conntrackFlows {
		if args[1] != "dccp" {
			flows = append(flows, args)
		}
	}
	for _, args := range flows {
		ns.Exec(t, "conntrack", append([]string{"-I", "-t", "300"}, args...)...)
	}
	var w *ctnl.Writer
	var relay *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		if w, err = ctnl.NewWriter(ctnl.WriterConfig{}); err != nil {
			return err
		}
		relay, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:3780")))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); relay.Close() })
	natted := &ctnl.Flow{
		Orig:    ctnl.Tuple{Src: netip.MustParseAddr("198.18.0.5"), Dst: netip.MustParseAddr("198.18.0.6"), Proto: 6, SrcPort: 1000, DstPort: 80},
		Status:  1<<1 | 1<<2 | 1<<3,
		Timeout: 300, Present: ctnl.HasProtoInfo, TCP: ctnl.TCPInfo{State: 3}, Mark: 4,
		SNAT: ctnl.NAT{MinAddr: netip.MustParseAddr("198.18.1.1"), MaxAddr: netip.MustParseAddr("198.18.1.1"), MinPort: 2000, MaxPort: 2000},
	}
	natted.Reply = natted.Orig.Invert()
	errs := make([]error, 1)
	if err := w.Apply([]ctnl.Request{{Op: ctnl.OpCreate, Flow: natted}}, errs); err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	want := len(flows) + 1

	dir := t.TempDir()
	conf := func(f legacyd.Files, self, peer string) string {
		return "Sync {\n\tMode NOTRACK { }\n\tUDP { IPv4_address " + self + " IPv4_Destination_Address " + peer +
			" Port 3780 Interface lo }\n}\n" + legacyd.General(f, "")
	}
	fa, fb := legacyd.FilesIn(filepath.Join(dir, "a")), legacyd.FilesIn(filepath.Join(dir, "b"))
	b := legacyd.Start(t, ns, "b", fb, conf(fb, "127.0.0.3", "127.0.0.1"))
	a := legacyd.Start(t, ns, "a", fa, conf(fa, "127.0.0.1", "127.0.0.2"))

	// The relay, on this goroutine: decode, keep, pass on to B.
	ext, err := cache.NewFlows(cache.Settings{Buckets: 64, Limit: 64})
	if err != nil {
		t.Fatal(err)
	}
	toB := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.3:3780"))
	buf := make([]byte, 65536)
	var now time.Time
	a.MustCtl(t, "-B")
	deadline := time.Now().Add(5 * time.Second)
	for ext.Len() < want && time.Now().Before(deadline) {
		relay.SetReadDeadline(deadline)
		n, err := relay.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			continue
		}
		now = time.Now()
		for d := buf[:n]; len(d) > 0; {
			var m wire.Message
			k, err := wire.Decode(d, &m)
			if err != nil {
				t.Fatalf("datagram from conntrackd: %v", err)
			}
			d = d[k:]
			if m.Type != wire.TypeCTNew && m.Type != wire.TypeCTUpdate {
				continue
			}
			var f cache.Flow
			if err := engine.CacheFromWire(&f, &m.Flow); err != nil {
				t.Fatal(err)
			}
			engine.ResolvePorts(&f, func(k cache.Key) bool { _, ok := ext.Find(k); return ok })
			ext.Update(&f, now)
		}
		if _, err := relay.WriteToUDP(buf[:n], toB); err != nil {
			t.Fatal(err)
		}
	}
	var ours []string
	for _, e := range ext.All() {
		ours = append(ours, render.WithoutReply(string(render.AppendFlowText(nil, e, now))))
	}
	if len(ours) != want {
		t.Fatalf("%d flows received, want %d:\n%s", len(ours), want, strings.Join(ours, "\n"))
	}
	var theirs []string
	for time.Now().Before(deadline) {
		if theirs = strings.Split(b.MustCtl(t, "-e"), "\n"); len(normalise(theirs)) >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("conntrackd -e:\n%s", strings.Join(theirs, "\n"))
	compare(t, "conntrackd -e", ours, theirs)
}
