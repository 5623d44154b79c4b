package interop

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	twofw "github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// synthFlow is an established TCP flow in the benchmarking range:
// 198.18.net.host:(1000+host) -> 198.18.99.1:443.
func synthFlow(net, host byte) wire.Flow {
	f := wire.Flow{
		Orig: wire.Tuple{
			Src: netip.AddrFrom4([4]byte{198, 18, net, host}), Dst: netip.AddrFrom4([4]byte{198, 18, 99, 1}),
			SrcPort: 1000 + uint16(host), DstPort: 443, Proto: protoTCP,
		},
		Status: ipsSeenReply | ipsAssured, Timeout: 120, TCPState: tcpEstablished,
	}
	for _, a := range []wire.Attr{wire.AttrIPv4, wire.AttrL4Proto, wire.AttrPort, wire.AttrStatus, wire.AttrTimeout, wire.AttrTCPState} {
		f.Set(a)
	}
	return f
}

func synthObjects(net byte, n int) []object {
	var objs []object
	for h := range n {
		objs = append(objs, flowObject(ftfw.StatusNew, synthFlow(net, byte(h+1))))
	}
	return objs
}

// insertSynth creates the kernel twins of objs in A.
func insertSynth(t *testing.T, l *lab, objs []object) {
	t.Helper()
	for _, o := range objs {
		tu := o.flow.Orig
		l.a.Exec(t, "conntrack", "-I", "-p", "tcp", "-s", tu.Src.String(), "-d", tu.Dst.String(),
			"--sport", fmt.Sprint(tu.SrcPort), "--dport", fmt.Sprint(tu.DstPort),
			"--state", "ESTABLISHED", "-t", "120", "-u", "SEEN_REPLY,ASSURED")
	}
}

// checkLegacyHolds waits until conntrackd -e ct on A lists exactly the
// flows of the peer's internal cache.
func checkLegacyHolds(t *testing.T, d *legacy, p *peer, what string) {
	t.Helper()
	poll(t, 8*time.Second, what, func() (bool, string) {
		out, err := d.Ctl("-e", "ct")
		if err != nil {
			return false, err.Error()
		}
		got, err := parseTuples(out)
		if err != nil {
			return false, err.Error()
		}
		want := map[wire.Tuple]bool{}
		p.mu.Lock()
		for k := range p.cache {
			if !k.exp {
				want[k.t] = true
			}
		}
		p.mu.Unlock()
		diff := cmp.Diff(want, got, cmpAddr)
		return diff == "", fmt.Sprintf("flows (-peer's internal cache +conntrackd -e ct):\n%s", diff)
	})
}

// TestIntegrationInteropResync: state that existed before the link came up
// crosses it only through a RESYNC. conntrackd -n on A makes the peer's
// session bulk-send its internal cache; the peer's RESYNC request makes A
// bulk-send its own, which it had filled silently from the kernel at
// start-up.
func TestIntegrationInteropResync(t *testing.T) {
	requirePrivileged(t)
	for _, c := range []legacyConf{{mode: "FTFW", transport: "udp"}, {mode: "NOTRACK", transport: "udp"}} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			insertSynth(t, l, synthObjects(3, 5))
			p := l.startPeer(t, c)
			p.hold(synthObjects(4, 5)...)
			d := l.startLegacy(t, c)
			if c.mode == "FTFW" {
				p.waitHandshake(t)
			}
			if ext := p.external(); len(ext) != 0 {
				t.Fatalf("the peer got %d flows before asking for a resync", len(ext))
			}
			if out := d.MustCtl(t, "-e", "ct"); strings.Contains(out, "src=198.18.4.") {
				t.Fatalf("conntrackd has our flows before asking for a resync:\n%s", out)
			}

			d.MustCtl(t, "-n")
			checkLegacyHolds(t, d, p, "our bulk send in A's external cache")
			if c.mode == "FTFW" {
				if got := p.stats().ResyncsRequested; got != 1 {
					t.Errorf("session counted %d RESYNC requests, want 1", got)
				}
			}

			p.requestResync()
			checkMirrors(t, l, p)
			if c.mode == "FTFW" {
				checkFTFW(t, p, d)
			}
			checkLegacyStats(t, d, false)
		})
	}
}

// TestIntegrationInteropLossRecovery: a burst of loss on the sync link in
// each direction while flows are created. FT-FW recovers it through NACK
// and retransmission: afterwards each side holds exactly the other's
// state. The counters prove the burst hit the link.
func TestIntegrationInteropLossRecovery(t *testing.T) {
	requirePrivileged(t)
	t.Parallel()
	c := legacyConf{mode: "FTFW", transport: "udp"}
	l := newLab(t)
	p := l.startPeer(t, c)
	d := l.startLegacy(t, c)
	p.waitHandshake(t)

	t.Run("legacy-to-peer", func(t *testing.T) {
		restore := dropSync(t, l.b)
		insertSynth(t, l, synthObjects(5, 10))
		time.Sleep(200 * time.Millisecond)
		restore()
		checkMirrors(t, l, p)
		if s := p.stats(); s.Lost == 0 || p.sentCount(wire.FlagNack) == 0 {
			t.Errorf("the session saw no gap (stats %+v, %d NACKs sent): the burst did not hit the link", s, p.sentCount(wire.FlagNack))
		}
	})
	t.Run("peer-to-legacy", func(t *testing.T) {
		restore := dropSync(t, l.a)
		p.set(synthObjects(6, 10)...)
		time.Sleep(200 * time.Millisecond)
		restore()
		checkLegacyHolds(t, d, p, "A's external cache to hold every flow we sent")
		if s := p.stats(); s.Retransmitted == 0 {
			t.Errorf("the session retransmitted nothing (stats %+v)", s)
		}
		if n := legacyLost(t, d); n == 0 {
			t.Error("conntrackd counted no lost messages: the burst did not hit the link")
		}
		checkLegacyStats(t, d, true)
		t.Logf("session stats %+v; conntrackd counted %d lost", p.stats(), legacyLost(t, d))
	})
}

// TestIntegrationInteropTCPRestart: the legacy daemon is restarted in the
// middle of a TCP FT-FW session. The link reconnects by itself, the new
// daemon's HELLO restarts the numbering, and sync goes on both ways; the
// new daemon's external cache, which starts empty, is refilled by
// conntrackd -n.
func TestIntegrationInteropTCPRestart(t *testing.T) {
	requirePrivileged(t)
	t.Parallel()
	c := legacyConf{mode: "FTFW", transport: "tcp"}
	l := newLab(t)
	p := l.startPeer(t, c)
	d := l.startLegacy(t, c)
	p.waitHandshake(t)
	objs := synthObjects(7, 3)

	p.set(objs[0])
	insertSynth(t, l, synthObjects(8, 1))
	checkLegacyHolds(t, d, p, "the first flow in A's external cache")
	checkMirrors(t, l, p)

	d.Stop()
	p.set(objs[1]) // while nobody listens
	start := len(mustSnapshot(p))
	d = l.startLegacy(t, c)
	poll(t, 8*time.Second, "a HELLO from the restarted daemon, then the end of its hello", func() (bool, string) {
		msgs := mustSnapshot(p)[start:]
		for i, m := range msgs {
			if m.Flags&wire.FlagHello != 0 {
				for _, m := range msgs[i+1:] {
					if m.Flags&wire.FlagHello == 0 {
						return true, ""
					}
				}
			}
		}
		return false, summary(p)
	})
	p.set(objs[2])
	poll(t, 5*time.Second, "a flow sent after the restart in A's external cache", func() (bool, string) {
		out, _ := d.Ctl("-e", "ct")
		return strings.Contains(out, "src="+objs[2].flow.Orig.Src.String()+" "), out
	})
	insertSynth(t, l, synthObjects(8, 2)[1:])
	checkMirrors(t, l, p)
	d.MustCtl(t, "-n")
	checkLegacyHolds(t, d, p, "everything we hold after conntrackd -n")
	checkFTFW(t, p, d)
	checkLegacyStats(t, d, false)
}

// TestIntegrationInteropAlarmExpiry: in ALARM mode an external entry
// lives CacheTimeout seconds past its last refresh. Of two flows the peer
// sent, the one it keeps re-sending stays in A's external cache and the
// other expires (src/cache_timer.c, src/sync-alarm.c).
func TestIntegrationInteropAlarmExpiry(t *testing.T) {
	requirePrivileged(t)
	t.Parallel()
	c := legacyConf{mode: "ALARM", transport: "udp", refresh: 1, cacheTimeout: 3}
	l := newLab(t)
	p := l.startPeer(t, c)
	d := l.startLegacy(t, c)
	objs := synthObjects(9, 2)
	kept, dropped := objs[0], objs[1]
	p.set(objs...)
	p.keepRefreshing(kept)
	listed := func(out string, o object) bool {
		return strings.Contains(out, "src="+o.flow.Orig.Src.String()+" ")
	}
	poll(t, 5*time.Second, "both flows in A's external cache", func() (bool, string) {
		out, _ := d.Ctl("-e", "ct")
		return listed(out, kept) && listed(out, dropped), out
	})
	sent := time.Now()
	var out string
	poll(t, 8*time.Second, "the unrefreshed flow to expire", func() (bool, string) {
		out, _ = d.Ctl("-e", "ct")
		return !listed(out, dropped), out
	})
	if age := time.Since(sent); age < 2*time.Second {
		t.Errorf("the flow expired %v after it was last sent, before CacheTimeout (3s)", age)
	}
	if !listed(out, kept) {
		t.Errorf("the refreshed flow expired too:\n%s", out)
	}
	if !strings.Contains(out, "[expires in") {
		t.Errorf("conntrackd -e ct shows no ALARM expiry:\n%s", out)
	}
	checkLegacyStats(t, d, false)
}

// TestIntegrationInteropExpectations: with ExpectationSync, an
// expectation the kernel's FTP helper creates in A reaches the peer as
// conntrack -L expect shows it, and one the peer announces enters A's
// expectation external cache.
func TestIntegrationInteropExpectations(t *testing.T) {
	requirePrivileged(t)
	t.Parallel()
	c := legacyConf{mode: "FTFW", transport: "udp", expect: true}
	l := newLab(t)
	// FTP runs over a second, tracked veth with the kernel's ftp helper.
	ifA, _ := netnstest.Veth(t, l.a, l.b,
		[]netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}, []netip.Prefix{netip.MustParsePrefix("203.0.113.2/24")})
	nft(t, l.a, `table inet ftp {
	ct helper ftph { type "ftp" protocol tcp; }
	chain out { type filter hook output priority 0; oifname "`+ifA+`" tcp dport 21 ct helper set "ftph"; }
}`)
	p := l.startPeer(t, c)
	d := l.startLegacy(t, c)
	p.waitHandshake(t)

	var exp wire.Expect
	t.Run("legacy-to-peer", func(t *testing.T) {
		twofw.FTPPort(t, l.a, l.b, "203.0.113.1", "203.0.113.2", 40010)
		listing := l.a.Exec(t, "conntrack", "-L", "expect")
		var ok bool
		poll(t, 8*time.Second, "the FTP expectation at the peer", func() (bool, string) {
			for k, m := range p.external() {
				if k.exp && k.t.DstPort == 40010 {
					exp, ok = m.Exp, true
					return true, ""
				}
			}
			return false, summary(p) + "\nconntrack -L expect on A:\n" + listing
		})
		if !ok {
			return
		}
		want := wire.Tuple{Src: netip.MustParseAddr("203.0.113.2"), Dst: netip.MustParseAddr("203.0.113.1"), DstPort: 40010, Proto: protoTCP}
		if diff := cmp.Diff(want, exp.Tuple, cmpAddr); diff != "" {
			t.Errorf("expected tuple (-want +got):\n%s", diff)
		}
		m := exp.Master
		shown := fmt.Sprintf("master-src=%s master-dst=%s sport=%d dport=%d", m.Src, m.Dst, m.SrcPort, m.DstPort)
		if !strings.Contains(listing, shown) || exp.Helper.String() != "ftp" || !strings.Contains(listing, "helper=ftp") {
			t.Errorf("the peer decoded master %q helper %q; conntrack -L expect on A shows:\n%s", shown, exp.Helper, listing)
		}
		if got := exp.Tuple.Src.String(); !strings.Contains(listing, "src="+got+" dst=203.0.113.1 sport=0 dport=40010") {
			t.Errorf("conntrack -L expect on A does not show the expectation the peer decoded:\n%s", listing)
		}
	})
	t.Run("peer-to-legacy", func(t *testing.T) {
		if !exp.Has(wire.ExpAttrExpectIPv4) {
			t.Fatal("no expectation received from conntrackd to model ours on (see legacy-to-peer)")
		}
		// Our own master flow and an expectation shaped like the kernel's.
		master := synthFlow(10, 1)
		master.Orig.DstPort = 21
		ours := exp
		ours.Master = master.Orig
		ours.Tuple = wire.Tuple{Src: master.Orig.Dst, Dst: master.Orig.Src, DstPort: 40011, Proto: protoTCP}
		p.set(flowObject(ftfw.StatusNew, master), object{isExp: true, exp: ours})
		poll(t, 5*time.Second, "our expectation in conntrackd -e expect", func() (bool, string) {
			out, _ := d.Ctl("-e", "expect")
			return strings.Contains(out, "dport=40011") && strings.Contains(out, "master-src=198.18.10.1"), out
		})
		checkFTFW(t, p, d)
		checkLegacyStats(t, d, false)
	})
}
