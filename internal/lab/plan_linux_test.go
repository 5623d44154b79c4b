package lab

import (
	"net/netip"
	"strings"
	"testing"
)

// The plan is data a typo can break: every address must be in the
// documentation ranges (netnstest refuses others, but only as root, when
// the lab is built), unique, and inside the network it is on, with the
// virtual addresses in their networks and free.
func TestPlanIsConsistent(t *testing.T) {
	nets := map[string][]netip.Prefix{
		"lan":  {netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("2001:db8:1::/64")},
		"wan":  {netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:2::/64")},
		"sync": {netip.MustParsePrefix("198.51.100.128/25"), netip.MustParsePrefix("2001:db8:3::/64")},
	}
	seen := map[netip.Addr]string{}
	use := func(who string, a netip.Addr, net string) {
		t.Helper()
		if other, dup := seen[a]; dup {
			t.Errorf("%s: %s is also %s's", who, a, other)
		}
		seen[a] = who
		in := false
		for _, p := range nets[net] {
			in = in || p.Contains(a)
		}
		if !in {
			t.Errorf("%s: %s is outside the %s networks %v", who, a, net, nets[net])
		}
		if !syntheticOK(a) || syntheticRange.Contains(a) {
			t.Errorf("%s: %s is outside the documentation ranges", who, a)
		}
	}
	for _, vip := range []netip.Addr{LANVIP4, LANVIP6} {
		use("LAN VIP", vip, "lan")
	}
	for _, vip := range []netip.Addr{WANVIP4, WANVIP6} {
		use("WAN VIP", vip, "wan")
	}
	roles := map[Role]bool{}
	for _, n := range plan {
		roles[n.role] = true
		for net, ps := range map[string][]string{"lan": n.lan, "wan": n.wan, "sync": n.syncLink} {
			for _, s := range ps {
				p := netip.MustParsePrefix(s)
				use(string(n.role)+" "+net, p.Addr(), net)
				if want := nets[net][0]; p.Addr().Is6() == want.Addr().Is6() && p.Bits() != want.Bits() {
					t.Errorf("%s: %s has not the /%d of its network", n.role, p, want.Bits())
				}
			}
		}
	}
	for _, r := range []Role{Client, FW1, FW2, Server} {
		if !roles[r] {
			t.Errorf("no %s in the plan", r)
		}
	}
	for _, a := range []struct {
		name string
		got  netip.Addr
		role Role
	}{{"ClientAddr4", ClientAddr4, Client}, {"ClientAddr6", ClientAddr6, Client}, {"ServerAddr4", ServerAddr4, Server}, {"ServerAddr6", ServerAddr6, Server}} {
		if !strings.HasPrefix(seen[a.got], string(a.role)) {
			t.Errorf("%s = %s belongs to %q, want %s", a.name, a.got, seen[a.got], a.role)
		}
	}
}

// Made-up entries stay where no traffic goes, and are distinct: a test
// inserting thousands must not collide.
func TestSyntheticEntries(t *testing.T) {
	seen := map[[2]netip.Addr]int{}
	for i := range 1 << 16 {
		e := Synthetic(i)
		if !syntheticRange.Contains(e.Src) || !syntheticRange.Contains(e.Dst) {
			t.Fatalf("Synthetic(%d) = %s -> %s, outside %s", i, e.Src, e.Dst, syntheticRange)
		}
		k := [2]netip.Addr{e.Src, e.Dst}
		if j, dup := seen[k]; dup {
			t.Fatalf("Synthetic(%d) and Synthetic(%d) are both %s -> %s", j, i, e.Src, e.Dst)
		}
		seen[k] = i
	}
}
