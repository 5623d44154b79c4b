package lab

import (
	"strings"
	"testing"
)

func TestFlowKey(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		// conntrack -L and ctsync dump list the same flow alike.
		{"tcp      6 431999 ESTABLISHED src=198.18.0.1 dst=198.19.255.254 sport=10000 dport=80 src=198.19.255.254 dst=198.18.0.1 sport=80 dport=10000 [ASSURED] mark=0 use=1",
			"tcp src=198.18.0.1 dst=198.19.255.254 sport=10000 dport=80"},
		{"tcp      6 ESTABLISHED src=198.18.0.1 dst=198.19.255.254 sport=10000 dport=80 src=198.19.255.254 dst=198.18.0.1 sport=80 dport=10000 [ASSURED] mark=7 [active since 3s]",
			"tcp src=198.18.0.1 dst=198.19.255.254 sport=10000 dport=80"},
		{"icmp     1 29 src=198.51.100.10 dst=203.0.113.10 type=8 code=0 id=7 src=203.0.113.10 dst=198.51.100.10 type=0 code=0 id=7 mark=0 zone=3 use=1",
			"icmp src=198.51.100.10 dst=203.0.113.10 type=8 code=0 id=7 zone=3"},
		{"conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.", ""},
		{"", ""},
	} {
		if got := FlowKey(tc.line); got != tc.want {
			t.Errorf("FlowKey(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestDiffFlows(t *testing.T) {
	a := []string{
		"udp 17 src=198.18.0.1 dst=198.18.1.1 sport=1 dport=53 src=198.18.1.1 dst=198.18.0.1 sport=53 dport=1",
		"udp 17 src=198.18.0.2 dst=198.18.1.1 sport=1 dport=53 src=198.18.1.1 dst=198.18.0.2 sport=53 dport=1",
	}
	same := []string{
		"udp 17 29 src=198.18.0.2 dst=198.18.1.1 sport=1 dport=53 src=198.18.1.1 dst=198.18.0.2 sport=53 dport=1 mark=0",
		"udp 17 29 src=198.18.0.1 dst=198.18.1.1 sport=1 dport=53 src=198.18.1.1 dst=198.18.0.1 sport=53 dport=1 mark=0",
	}
	if d := DiffFlows("a", a, "b", same, 10); d != "" {
		t.Errorf("the same flows differ:\n%s", d)
	}
	other := []string{same[0], "udp 17 src=198.18.0.9 dst=198.18.1.1 sport=1 dport=53 src=198.18.1.1 dst=198.18.0.9 sport=53 dport=1"}
	d := DiffFlows("a", a, "b", other, 10)
	for _, want := range []string{"1 missing from b:\n  udp src=198.18.0.1 ", "1 extra in b (not in a):\n  udp src=198.18.0.9 "} {
		if !strings.Contains(d, want) {
			t.Errorf("the diff lacks %q:\n%s", want, d)
		}
	}
}
