package lab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

const (
	dialTimeout = 3 * time.Second
	echoTimeout = 3 * time.Second
	// brokenAfter is how long a connection that should be dead is given
	// to prove otherwise: TCP retransmits within it (initial RTO 1s).
	brokenAfter = 3 * time.Second
)

var families = []lab.Family{lab.IPv4, lab.IPv6}

// tracked returns the lines of fw's table for c's flow.
func tracked(t *testing.T, fw *lab.Node, c *lab.Conn) []string {
	t.Helper()
	return fw.Entries(t, c.ConnMatch()...)
}

// Traffic from the client reaches the server through fw1, which tracks
// it (with the firewalls' NAT in the reply tuple when asked for); fw2,
// the backup, sees none of it. Entries made with conntrack -I appear in
// the table they were put in and nowhere else.
func TestIntegrationForwardsThroughPrimary(t *testing.T) {
	for _, nat := range []bool{false, true} {
		t.Run(fmt.Sprintf("nat=%v", nat), func(t *testing.T) {
			l := lab.New(t, lab.Options{NAT: nat})
			l.StartEcho(t)
			if l.Active() != l.FW1 {
				t.Fatalf("active firewall is %s, want fw1", l.Active().Role)
			}
			for _, f := range families {
				c := l.Dial(t, f, dialTimeout)
				if err := c.Echo(echoTimeout); err != nil {
					t.Fatalf("%v: %v", f, err)
				}
				got := tracked(t, l.FW1, c)
				if len(got) != 1 || !strings.Contains(got[0], "ESTABLISHED") {
					t.Errorf("%v: fw1 entries for %v = %q, want one ESTABLISHED", f, c, got)
				}
				// With NAT the server answers the WAN virtual address.
				wantReply := "dst=" + c.Local.Addr().String()
				if nat {
					wantReply = "dst=" + lab.WANVIP4.String()
					if f == lab.IPv6 {
						wantReply = "dst=" + lab.WANVIP6.String()
					}
				}
				if len(got) == 1 && strings.Count(got[0], wantReply) == 0 {
					t.Errorf("%v: fw1 entry %q has no reply %s", f, got[0], wantReply)
				}
				if got := tracked(t, l.FW2, c); len(got) != 0 {
					t.Errorf("%v: backup fw2 tracks %v: %q", f, c, got)
				}
			}

			before1, before2 := l.FW1.Count(t), l.FW2.Count(t)
			const n = 50
			var entries []lab.Entry
			for i := range n {
				entries = append(entries, lab.Synthetic(i))
			}
			l.FW1.Insert(t, entries...)
			if got := l.FW1.Count(t); got != before1+n {
				t.Errorf("fw1 counts %d entries after inserting %d to %d", got, n, before1)
			}
			if got := l.FW2.Count(t); got != before2 {
				t.Errorf("fw2 counts %d entries, had %d: inserting on fw1 leaked", got, before2)
			}
			if got := l.FW1.Entries(t, lab.Synthetic(7).Match()...); len(got) != 1 || !strings.Contains(got[0], "ESTABLISHED") {
				t.Errorf("fw1 entries for synthetic 7 = %q, want one ESTABLISHED", got)
			}
		})
	}
}

// openConns opens one connection per family and checks each works.
func openConns(t *testing.T, l *lab.Lab) []*lab.Conn {
	t.Helper()
	var conns []*lab.Conn
	for _, f := range families {
		c := l.Dial(t, f, dialTimeout)
		if err := c.Echo(echoTimeout); err != nil {
			t.Fatalf("before fail-over: %v", err)
		}
		conns = append(conns, c)
	}
	return conns
}

// Without state sync, fail-over breaks established connections: the
// backup has never seen them and drops their packets. New connections go
// through the backup, so the breakage is the missing state, not the
// routing. This is what makes the lab strict enough to judge a sync
// daemon.
func TestIntegrationFailOverWithoutSyncBreaks(t *testing.T) {
	l := lab.New(t, lab.Options{})
	l.StartEcho(t)
	conns := openConns(t, l)

	if got := l.FailOver(t); got != l.FW2 {
		t.Fatalf("FailOver made %s active, want fw2", got.Role)
	}
	// Both at once: each waits brokenAfter in vain.
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs[i] = c.Echo(brokenAfter) })
	}
	wg.Wait()
	for i, c := range conns {
		if err := errs[i]; !errors.Is(err, lab.ErrNoEcho) {
			t.Errorf("%v %v after fail-over without sync: got %v, want %v", c.Family, c, err, lab.ErrNoEcho)
		}
		if got := tracked(t, l.FW2, c); len(got) != 0 {
			t.Errorf("fw2 adopted %v from mid-stream packets: %q", c, got)
		}
	}
	for _, f := range families {
		c := l.Dial(t, f, dialTimeout)
		if err := c.Echo(echoTimeout); err != nil {
			t.Fatalf("new %v connection after fail-over: %v", f, err)
		}
		if got := tracked(t, l.FW2, c); len(got) != 1 {
			t.Errorf("fw2 entries for the new %v = %q, want one", c, got)
		}
		if got := tracked(t, l.FW1, c); len(got) != 0 {
			t.Errorf("fw1 tracks %v opened after fail-over: %q", c, got)
		}
	}
}

// With conntrackd 1.4.7 on both firewalls (FT-FW over the sync link) and
// the backup committing its external cache as keepalived's script makes
// it, established connections survive fail-over, NAT included. Entries
// created with conntrack -I on the primary are replicated too.
func TestIntegrationFailOverWithConntrackdSurvives(t *testing.T) {
	for _, nat := range []bool{false, true} {
		t.Run(fmt.Sprintf("nat=%v", nat), func(t *testing.T) {
			l := lab.New(t, lab.Options{NAT: nat})
			l.StartEcho(t)
			d1 := l.StartConntrackd(t, l.FW1)
			d2 := l.StartConntrackd(t, l.FW2)
			conns := openConns(t, l)
			synthetic := lab.Synthetic(1)
			l.FW1.Insert(t, synthetic)

			// fw2's external cache must hold the connections as
			// established before the commit: what it commits is what
			// it was told last.
			lab.Eventually(t, 10*time.Second, "fw2's conntrackd to learn the flows", func() (bool, string) {
				ext := d2.MustCtl(t, "-e")
				for _, c := range conns {
					if !hasLine(ext, fmt.Sprintf("sport=%d ", c.Local.Port()), "ESTABLISHED") {
						return false, ext
					}
				}
				return hasLine(ext, "src="+synthetic.Src.String()+" ", "ESTABLISHED"), ext
			})
			for _, c := range conns {
				if got := tracked(t, l.FW2, c); len(got) != 0 {
					t.Fatalf("fw2's kernel has %v before the commit: %q", c, got)
				}
			}

			d2.TakeOver(t)
			l.FailOver(t)
			d1.StepDown(t)
			for _, c := range conns {
				if err := c.Echo(echoTimeout); err != nil {
					t.Errorf("%v %v after fail-over with conntrackd: %v", c.Family, c, err)
				}
				if got := tracked(t, l.FW2, c); len(got) != 1 || !strings.Contains(got[0], "ESTABLISHED") {
					t.Errorf("fw2 entries for %v = %q, want one ESTABLISHED", c, got)
				}
			}
			if got := l.FW2.Entries(t, synthetic.Match()...); len(got) != 1 {
				t.Errorf("fw2 entries for the synthetic entry = %q, want one", got)
			}
			// The new primary's state reaches the old one, ready for
			// the way back.
			lab.Eventually(t, 10*time.Second, "fw1's conntrackd to learn the flows from fw2", func() (bool, string) {
				ext := d1.MustCtl(t, "-e")
				for _, c := range conns {
					if !hasLine(ext, fmt.Sprintf("sport=%d ", c.Local.Port()), "ESTABLISHED") {
						return false, ext
					}
				}
				return true, ext
			})
		})
	}
}

// hasLine reports whether a line of text contains every one of subs.
func hasLine(text string, subs ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// The sync link carries multicast in both families, as conntrackd's
// Multicast transport needs: a datagram fw1 sends to the group reaches a
// socket that joined it on fw2.
func TestIntegrationSyncLinkMulticast(t *testing.T) {
	l := lab.New(t, lab.Options{})
	for _, group := range []netip.Addr{lab.SyncGroup4, lab.SyncGroup6} {
		network := "udp4"
		if group.Is6() {
			network = "udp6"
		}
		var rc *net.UDPConn
		err := l.FW2.Do(func() error {
			ifc, err := net.InterfaceByName(l.FW2.Sync)
			if err != nil {
				return err
			}
			rc, err = net.ListenMulticastUDP(network, ifc, net.UDPAddrFromAddrPort(netip.AddrPortFrom(group, lab.SyncPort)))
			return err
		})
		if err != nil {
			t.Fatalf("fw2: join %s on %s: %v", group, l.FW2.Sync, err)
		}
		defer rc.Close()
		dst := netip.AddrPortFrom(group.WithZone(l.FW1.Sync), lab.SyncPort)
		if group.Is4() {
			dst = netip.AddrPortFrom(group, lab.SyncPort)
		}
		msg := []byte("sync " + group.String())
		err = l.FW1.Do(func() error {
			c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(dst))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(msg)
			return err
		})
		if err != nil {
			t.Fatalf("fw1: send to %s: %v", dst, err)
		}
		rc.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 100)
		n, from, err := rc.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("fw2: nothing received on %s: %v", group, err)
		}
		// IPv6 sends to a link-local group from the link-local address.
		fromFW1 := from.Addr().IsLinkLocalUnicast() && from.Addr().Zone() == l.FW2.Sync ||
			slices.ContainsFunc(l.FW1.SyncAddrs, func(p netip.Prefix) bool { return p.Contains(from.Addr()) })
		if string(buf[:n]) != string(msg) || !fromFW1 {
			t.Errorf("fw2 received %q from %s, want %q from fw1's sync link (%v)", buf[:n], from, msg, l.FW1.SyncAddrs)
		}
	}
}
