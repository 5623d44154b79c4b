package netnstest_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/netnstest"
)

func TestIntegrationNetNS(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns1, ns2 := netnstest.NewNetNS(t), netnstest.NewNetNS(t)
	if got := strings.TrimSpace(ns1.Exec(t, "sysctl", "-n", "net.netfilter.nf_conntrack_events")); got != "1" {
		t.Errorf("nf_conntrack_events in %s = %q, want 1", ns1.Name, got)
	}
	a, _ := netnstest.Veth(t, ns1, ns2, []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")})
	if out := ns1.Exec(t, "ping", "-c1", "-W2", "198.51.100.2"); !strings.Contains(out, "1 received") {
		t.Errorf("ping over %s: %s", a, out)
	}
}
