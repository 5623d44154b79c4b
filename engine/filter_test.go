package engine

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/filter/kbpf"
)

// TestFilterSettings feeds a configuration through config and checks the
// chain the engine builds: the stages, and which flows pass.
func TestFilterSettings(t *testing.T) {
	src := `
filter {
  run_in = "kernel"
  stage "protocol" {
    accept = ["tcp", "udp"]
  }
  stage "address" {
    ignore = ["198.51.100.1", "203.0.113.0/24", "2001:db8::/32"]
  }
  stage "tcp_state" {
    accept = ["established", "close", "listen"]
  }
}
`
	got, err := FilterSettings(runtimeOf(t, src).Filter)
	if err != nil {
		t.Fatal(err)
	}
	want := filter.Settings{Stages: []filter.Stage{
		{Kind: filter.KindProtocol, Policy: filter.Accept, Protocols: []uint8{6, 17}},
		{Kind: filter.KindAddress, Policy: filter.Ignore, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("198.51.100.1/32"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
		{Kind: filter.KindTCPState, Policy: filter.Accept, TCPStates: []filter.TCPState{3, 8, 9}},
	}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Fatalf("FilterSettings (-want +got):\n%s", d)
	}

	chain, err := filter.New(got)
	if err != nil {
		t.Fatal(err)
	}
	flow := func(proto uint8, src, rsrc string, state filter.TCPState) *filter.Flow {
		return &filter.Flow{Family: filter.FamilyInet, Protocol: proto,
			OrigSrc: netip.MustParseAddr(src), ReplySrc: netip.MustParseAddr(rsrc),
			TCPState: state, HasTCPState: proto == 6}
	}
	for _, tt := range []struct {
		name string
		flow *filter.Flow
		want bool
	}{
		{"tcp established", flow(6, "198.51.100.7", "192.0.2.1", 3), true},
		{"tcp syn_sent", flow(6, "198.51.100.7", "192.0.2.1", 1), false},
		{"udp", flow(17, "198.51.100.7", "192.0.2.1", 0), true},
		{"icmp", flow(1, "198.51.100.7", "192.0.2.1", 0), false},
		{"ignored host", flow(6, "198.51.100.1", "192.0.2.1", 3), false},
		{"ignored network, reply side", flow(17, "198.51.100.7", "203.0.113.9", 0), false},
	} {
		if got := chain.Pass(tt.flow); got != tt.want {
			t.Errorf("%s: Pass = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := kbpf.Compile(got); err != nil {
		t.Errorf("kbpf.Compile: %v", err)
	}
}

func TestFilterSettingsUnknown(t *testing.T) {
	for _, st := range []config.FilterStage{{Kind: 9}, {Policy: 9}} {
		if _, err := FilterSettings(config.FilterSettings{Stages: []config.FilterStage{st}}); err == nil {
			t.Errorf("FilterSettings(%+v) succeeded", st)
		}
	}
}

// config refuses, for run_in = "kernel", address stages longer than kbpf
// can compile; the two limits must stay equal.
func TestKernelFilterLimits(t *testing.T) {
	if config.Defaults.KernelFilterMaxIPv4 != kbpf.MaxIPv4 || config.Defaults.KernelFilterMaxIPv6 != kbpf.MaxIPv6 {
		t.Errorf("config allows %d IPv4 and %d IPv6 kernel filter entries, kbpf compiles %d and %d",
			config.Defaults.KernelFilterMaxIPv4, config.Defaults.KernelFilterMaxIPv6, kbpf.MaxIPv4, kbpf.MaxIPv6)
	}
}
