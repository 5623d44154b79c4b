package engine

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/filter"
)

// runtimeOf parses and validates an HCL configuration.
func runtimeOf(t *testing.T, src string) config.Runtime {
	t.Helper()
	f, diags := config.Parse("ctsync.hcl", []byte(src), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rt, diags := config.Validate(f, config.ValidateOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rt
}

const syncLink = `
link "l" {
  transport = "udp"
  interface = "lo"
  local     = "198.51.100.1"
  peer      = "198.51.100.2"
  port      = 3780
}
`

// What the configuration's daemon, netlink, filter and sync blocks become
// for the input stage, conntrackd's defaults included.
func TestIngestSettingsFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want IngestSettings
	}{
		{"defaults", ``, IngestSettings{OverrunResync: 30 * time.Second, EventIterationLimit: 100}},
		{"buffer grows", `netlink {
  buffer_size            = "1MiB"
  buffer_size_max_growth = "8MiB"
}`, IngestSettings{ReadBuffer: 1 << 20, ReadBufferMax: 8 << 20, OverrunResync: 30 * time.Second, EventIterationLimit: 100}},
		// conntrackd 1.4.7 sets the size only when it is not above the
		// ceiling, and an unset ceiling is 0.
		{"buffer without ceiling", `netlink {
  buffer_size = "1MiB"
}`, IngestSettings{OverrunResync: 30 * time.Second, EventIterationLimit: 100}},
		{"reliable, resync off", `netlink {
  events_reliable = true
  overrun_resync  = "off"
}`, IngestSettings{EventsReliable: true, EventIterationLimit: 100}},
		{"polling", `daemon {
  poll_interval         = "15s"
  event_iteration_limit = 7
}`, IngestSettings{PollInterval: 15 * time.Second, OverrunResync: 30 * time.Second, EventIterationLimit: 7}},
		{"kernel filter", `filter {
  run_in = "kernel"
  stage "protocol" {
    ignore = ["udp"]
  }
}`, IngestSettings{OverrunResync: 30 * time.Second, EventIterationLimit: 100, FilterInKernel: true, Filter: ignoreUDP}},
		{"expectations", `sync "ftfw" {
  expectation_helpers = ["ftp", "sip"]
}` + syncLink, IngestSettings{OverrunResync: 30 * time.Second, EventIterationLimit: 100, Expectations: true, ExpectHelpers: []string{"ftp", "sip"}}},
		{"sync without expectations", `sync "notrack" {}` + syncLink, IngestSettings{OverrunResync: 30 * time.Second, EventIterationLimit: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IngestSettingsFor(runtimeOf(t, tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("IngestSettingsFor (-want +got):\n%s", d)
			}
		})
	}
}

// The event socket's configuration: reliable events set both socket
// options, a kernel filter is compiled into a program, a user one is not.
func TestIngestEventsConfig(t *testing.T) {
	for _, tc := range []struct {
		name        string
		s           IngestSettings
		reliable    bool
		wantProgram bool
	}{
		{"plain", IngestSettings{ReadBuffer: 4096, ReadBufferMax: 8192, Filter: ignoreUDP}, false, false},
		{"reliable", IngestSettings{EventsReliable: true}, true, false},
		{"kernel filter", IngestSettings{Filter: ignoreUDP, FilterInKernel: true, Expectations: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.s.EventsConfig()
			if err != nil {
				t.Fatal(err)
			}
			if !c.Flows || c.Expectations != tc.s.Expectations || c.ReadBuffer != tc.s.ReadBuffer || c.ReadBufferMax != tc.s.ReadBufferMax {
				t.Errorf("config %+v does not carry the settings %+v", c, tc.s)
			}
			if c.NoENOBUFS != tc.reliable || c.BroadcastError != tc.reliable {
				t.Errorf("NoENOBUFS %v, BroadcastError %v; want both %v", c.NoENOBUFS, c.BroadcastError, tc.reliable)
			}
			if (len(c.Filter) > 0) != tc.wantProgram {
				t.Errorf("program of %d instructions, want one: %v", len(c.Filter), tc.wantProgram)
			}
		})
	}
	// A chain the kernel cannot hold is refused.
	var many []netip.Prefix
	for i := range 200 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 32))
	}
	big := filter.Settings{Stages: []filter.Stage{{Kind: filter.KindAddress, Policy: filter.Ignore, Prefixes: many}}}
	if _, err := (IngestSettings{Filter: big, FilterInKernel: true}).EventsConfig(); err == nil {
		t.Error("a kernel filter of 200 IPv4 addresses compiled; kbpf holds 127")
	}
}

// EnableConntrackEvents sets the sysctl to 1 when it is anything else, and
// says what it found; a file it cannot write is an error naming it.
func TestEnableConntrackEvents(t *testing.T) {
	for _, tc := range []struct{ was, wantWas string }{{"2\n", "2"}, {"0\n", "0"}, {"1\n", "1"}} {
		path := filepath.Join(t.TempDir(), "nf_conntrack_events")
		if err := os.WriteFile(path, []byte(tc.was), 0o644); err != nil {
			t.Fatal(err)
		}
		was, err := EnableConntrackEvents(path)
		if err != nil || was != tc.wantWas {
			t.Errorf("from %q: was %q, %v; want %q, nil", tc.was, was, err, tc.wantWas)
		}
		if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "1" {
			t.Errorf("from %q: the file holds %q, want 1", tc.was, b)
		}
	}
	if _, err := EnableConntrackEvents(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("no error for a missing sysctl")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nf_conntrack_events")
	if err := os.WriteFile(path, []byte("2\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 { // root writes read-only files
		if _, err := EnableConntrackEvents(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("read-only sysctl: %v, want an error naming it", err)
		}
	}
}
