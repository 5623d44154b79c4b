package netnstest_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
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

// A namespace whose creating process is gone is deleted; one of a live
// process is kept.
func TestIntegrationRemoveStale(t *testing.T) {
	netnstest.RequirePrivileged(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := netnstest.NewNetNS(t) // this process's, named after this test
	prefix, _, _ := strings.Cut(live.Name, fmt.Sprintf("%d-", os.Getpid()))
	stale := fmt.Sprintf("%s%d-1", prefix, dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", stale, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", stale).Run() })
	removed, err := netnstest.RemoveStale(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{stale}) {
		t.Errorf("RemoveStale removed %v, want [%s]", removed, stale)
	}
	for name, want := range map[string]bool{stale: false, live.Name: true} {
		_, err := os.Stat("/run/netns/" + name)
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", name, got, want)
		}
	}
}
