package config

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// testInterfaces is the host the tests pretend to run on.
func testInterfaces(n string) bool { return n == "eth0" || n == "lo" }

// validateSource parses an HCL snippet the way Parse does (without
// variables) and validates it.
func validateSource(t *testing.T, src string, strict bool) (Runtime, Diagnostics) {
	t.Helper()
	f, hds := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if hds.HasErrors() {
		t.Fatalf("parse: %s", hds.Error())
	}
	var file File
	if ds := decodeBody(f.Body, nil, &file); ds.HasErrors() {
		t.Fatalf("decode: %s", ds.Error())
	}
	return Validate(&file, ValidateOptions{Strict: strict, InterfaceExists: testInterfaces})
}

// syncUDP is a minimal valid sync configuration, prepended to snippets that
// test something else (it is 7 lines long).
const syncUDP = `sync "ftfw" {}
link "a" {
  transport = "udp"
  interface = "eth0"
  peer      = "192.0.2.2"
  port      = 3780
}
`

// TestValidateDiagnostics checks every rule: each want entry is
// "line:col severity code: substring of the message and detail" (" … "
// separates substrings that must appear in order), and the
// diagnostics must match the entries one to one, in order.
func TestValidateDiagnostics(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		strict bool
		want   []string
	}{
		{name: "minimal sync is clean", src: syncUDP},
		{name: "empty file is clean", src: ``},

		// daemon, log, control, netlink, scheduler
		{name: "poll interval zero", src: "daemon {\n  poll_interval = \"0s\"\n}\n",
			want: []string{"2:19 error range: daemon: poll_interval 0s is too short; want at least 1s"}},
		{name: "poll interval not whole seconds", src: "daemon {\n  poll_interval = \"1500ms\"\n}\n",
			want: []string{"2:19 error duration: not a whole number of seconds"}},
		{name: "poll interval not a duration", src: "daemon {\n  poll_interval = \"often\"\n}\n",
			want: []string{"2:19 error duration: \"often\" is not a duration"}},
		{name: "event iteration limit zero", src: "daemon {\n  event_iteration_limit = 0\n}\n",
			want: []string{"2:27 error range: event_iteration_limit 0 is out of range; want 1 to 2147483647"}},
		{name: "metrics listen address", src: "metrics {\n  listen = \"127.0.0.1:9724\"\n}\n"},
		{name: "metrics on every address", src: "metrics {\n  listen = \":9724\"\n}\n"},
		{name: "metrics without a port", src: "metrics {\n  listen = \"127.0.0.1\"\n}\n",
			want: []string{`2:12 error address: metrics: listen "127.0.0.1" is not a host and port; want an IP address and a port, such as "127.0.0.1:9724"`}},
		{name: "metrics IPv6 without brackets", src: "metrics {\n  listen = \"::1:9724\"\n}\n",
			want: []string{`2:12 error address: metrics: listen "::1:9724" is not a host and port; want … "[::1]:9724"`}},
		{name: "metrics host name", src: "metrics {\n  listen = \"localhost:9724\"\n}\n",
			want: []string{`2:12 error address: metrics: listen "localhost:9724": "localhost" is not an IP address`}},
		{name: "metrics port zero", src: "metrics {\n  listen = \"127.0.0.1:0\"\n}\n",
			want: []string{`2:12 error range: metrics: listen "127.0.0.1:0": port 0 is out of range; want 1 to 65535`}},
		{name: "metrics port too large", src: "metrics {\n  listen = \"[::1]:65536\"\n}\n",
			want: []string{`2:12 error range: metrics: listen "[::1]:65536": port 65536 is out of range; want 1 to 65535`}},
		{name: "metrics port huge", src: "metrics {\n  listen = \"[::1]:99999999999999999999\"\n}\n",
			want: []string{`2:12 error range: port 99999999999999999999 is out of range; want 1 to 65535`}},
		{name: "metrics port a name", src: "metrics {\n  listen = \"127.0.0.1:http\"\n}\n",
			want: []string{`2:12 error address: metrics: listen "127.0.0.1:http": port "http" is not a number`}},
		{name: "metrics empty listen", src: "metrics {\n  listen = \"\"\n}\n",
			want: []string{`2:12 error value: metrics: listen is empty`}},
		{name: "empty lock file", src: "daemon {\n  lock_file = \"\"\n}\n",
			want: []string{"2:15 error value: daemon: lock_file is empty"}},
		{name: "syslog facility typo", src: "log {\n  syslog = \"locl0\"\n}\n",
			want: []string{`2:12 error enum: log: unknown syslog facility "locl0"; want "daemon", "local0" … or "local7"; did you mean "local0"?`}},
		{name: "syslog facility upper case", src: "log {\n  syslog = \"DAEMON\"\n}\n",
			want: []string{`2:12 warning case: log: syslog facility "DAEMON" should be written in lower case; write "daemon"`}},
		{name: "paths are absolute", src: "daemon {\n  lock_file = \"run/ctsync.lock\"\n}\ncontrol {\n  path = \"ctsync.ctl\"\n}\n",
			want: []string{
				`2:15 error value: daemon: lock_file "run/ctsync.lock" is a relative path; write an absolute path, starting with /`,
				`5:10 error value: control: path "ctsync.ctl" is a relative path; write an absolute path, starting with /`,
			}},
		{name: "paths hold no control character", src: "daemon {\n  lock_file = \"/x\\u0000y\"\n}\nlog {\n  file = \"/a\\nb\"\n}\nstats {\n  log_file = \"/a\\tb\"\n}\ncontrol {\n  path = \"/\\u007f\"\n}\n",
			want: []string{
				"2:15 error value: daemon: lock_file has the control character U+0000 at byte 2; a file name cannot hold control characters",
				"5:10 error value: log: file has the control character U+000A at byte 2",
				"8:14 error value: stats: log_file has the control character U+0009 at byte 2",
				"11:10 error value: control: path has the control character U+007F at byte 1"}},
		{name: "file names at conntrackd's limit", src: "daemon {\n  lock_file = \"/" + strings.Repeat("x", 255) + "\"\n}\nlog {\n  file = \"/" + strings.Repeat("x", 256) + "\"\n}\n",
			want: []string{"5:10 error range: log: file is 257 bytes long; a file name holds at most 256 bytes"}},
		{name: "control path too long", src: "control {\n  path = \"/" + strings.Repeat("x", 107) + "\"\n}\n",
			want: []string{"2:10 error range: control: path is 108 bytes long; a UNIX socket path holds at most 107 bytes"}},
		{name: "netlink buffer not a size", src: "netlink {\n  buffer_size = \"2M\"\n}\n",
			want: []string{"2:17 error size: netlink: buffer_size: \"2M\" has an unknown size unit … did you mean 2MiB (×1024²) or 2MB (×1000²)?"}},
		{name: "netlink buffer too big", src: "netlink {\n  buffer_size = \"2GiB\"\n}\n",
			want: []string{"2:17 error range: netlink: buffer_size 2GiB is out of range; want 1 to 2147483647"}},
		{name: "netlink growth below buffer", src: "netlink {\n  buffer_size = \"2MiB\"\n  buffer_size_max_growth = \"1MiB\"\n}\n",
			want: []string{"3:28 warning no-effect: buffer_size_max_growth 1MiB is below buffer_size 2MiB"}},
		{name: "overrun resync zero", src: "netlink {\n  overrun_resync = \"0\"\n}\n",
			want: []string{`2:20 error range: netlink: overrun_resync 0 is zero; write "off"`}},
		{name: "overrun resync with reliable events", src: "netlink {\n  overrun_resync = \"10s\"\n  events_reliable = true\n}\n",
			want: []string{"2:20 warning no-effect: overrun_resync has no effect with events_reliable = true"}},
		{name: "netlink in polling mode", src: "daemon {\n  poll_interval = 10\n}\nnetlink {\n  events_reliable = true\n}\n",
			want: []string{"4:1 warning no-effect: netlink settings have no effect in polling mode"}},
		{name: "scheduler policy typo", src: "scheduler {\n  policy = \"fifi\"\n}\n",
			want: []string{`2:12 error enum: unknown scheduler policy "fifi"; want "rr", "fifo" or "other"; did you mean "fifo"?`}},
		{name: "scheduler priority out of range", src: "scheduler {\n  priority = 100\n}\n",
			want: []string{"2:14 error range: scheduler: priority 100 is out of range; want 0 to 99"}},
		{name: "scheduler priority zero", src: "scheduler {\n  policy = \"fifo\"\n  priority = 0\n}\n",
			want: []string{"3:14 warning range: priority 0 is refused by the kernel for fifo"}},
		{name: "scheduler other with a priority", src: "scheduler {\n  policy = \"other\"\n  priority = 10\n}\n",
			want: []string{`3:14 warning no-effect: scheduler: priority has no effect with policy "other"`}},

		// filter
		{name: "filter run_in typo", src: "filter {\n  run_in = \"kernal\"\n}\n",
			want: []string{`2:12 error enum: unknown filter run_in "kernal"; want "user" or "kernel"; did you mean "kernel"?`}},
		{name: "stage kind typo", src: "filter {\n  stage \"protocl\" {\n    accept = [\"tcp\"]\n  }\n}\n",
			want: []string{`2:9 error enum: unknown filter stage kind "protocl"; want "protocol", "address" or "tcp_state"; did you mean "protocol"?`}},
		{name: "stage with accept and ignore", src: "filter {\n  stage \"protocol\" {\n    accept = [\"tcp\"]\n    ignore = [\"udp\"]\n  }\n}\n",
			want: []string{`4:14 error conflict: filter stage "protocol" has both accept and ignore`}},
		{name: "stage with neither", src: "filter {\n  stage \"protocol\" {\n  }\n}\n",
			want: []string{`2:3 error missing-attribute: filter stage "protocol" needs accept or ignore`}},
		{name: "empty accept drops everything", src: "filter {\n  stage \"address\" {\n    accept = []\n  }\n}\n",
			want: []string{`3:14 error filter-empty: filter stage "address" accepts nothing, so it drops every flow`}},
		{name: "empty ignore does nothing", src: "filter {\n  stage \"address\" {\n    ignore = []\n  }\n}\n",
			want: []string{`3:14 warning filter-empty: ignores nothing, so it has no effect`}},
		{name: "duplicate stage kind", src: "filter {\n  stage \"protocol\" {\n    accept = [\"tcp\"]\n  }\n  stage \"protocol\" {\n    ignore = [\"udp\"]\n  }\n}\n",
			want: []string{`5:9 error duplicate: duplicate filter stage "protocol"; the first is at test.hcl:2:3`}},
		{name: "protocols by name and number", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"tcp\", \"17\", \"ipv6-icmp\", \"sctp\"]\n  }\n}\n"},
		{name: "unknown protocol", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"tpc\"]\n  }\n}\n",
			want: []string{`3:15 error protocol: filter stage "protocol": unknown protocol "tpc" … did you mean "tcp"?`}},
		{name: "bad entry of a long list is pointed at", src: "filter {\n  stage \"address\" {\n    ignore = [\n      \"127.0.0.1\",\n      \"198.51.100.300\",\n    ]\n  }\n}\n",
			want: []string{`5:7 error address: filter stage "address": "198.51.100.300"`}},
		{name: "protocol number too big", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"256\"]\n  }\n}\n",
			want: []string{`3:15 error protocol: protocol number 256 is out of range; protocol numbers are 0 to 255`}},
		{name: "protocol upper case", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"SCTP\"]\n  }\n}\n",
			want: []string{`3:15 warning case: protocol "SCTP" should be written in lower case`}},
		{name: "ip and hopopt are protocol 0", src: "filter {\n  stage \"protocol\" {\n    accept = [\"ip\", \"tcp\", \"hopopt\"]\n  }\n}\n",
			want: []string{`3:28 warning duplicate: filter stage "protocol": accept lists "ip" twice; "hopopt" is "ip"`}},
		{name: "protocol alias", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"IPSEC-ESP\"]\n  }\n}\n",
			want: []string{`3:15 warning case: filter stage "protocol": protocol "IPSEC-ESP" is another name of "esp"; write "esp"`}},
		{name: "icmpv6 is ipv6-icmp", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"icmpv6\", \"58\"]\n  }\n}\n",
			want: []string{`3:25 warning duplicate: filter stage "protocol": ignore lists "ipv6-icmp" twice; "58" is "ipv6-icmp"`}},
		{name: "mptcp matches no flow", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"mptcp\", \"udp\"]\n  }\n}\n",
			want: []string{`3:15 warning protocol: filter stage "protocol": protocol "mptcp" (262) matches no flow`}},
		{name: "accepting only mptcp drops every flow", src: "filter {\n  stage \"protocol\" {\n    accept = [\"mptcp\"]\n  }\n}\n",
			want: []string{`3:14 error filter-empty: filter stage "protocol" accepts no protocol a flow can have, so it drops every flow`,
				`3:15 warning protocol: protocol "mptcp" (262) matches no flow`}},
		{name: "duplicate protocol", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"udp\", \"17\"]\n  }\n}\n",
			want: []string{`3:22 warning duplicate: filter stage "protocol": ignore lists "udp" twice`}},
		{name: "duplicate protocol named as in /etc/protocols", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"icmpv6\", \"58\", \"253\", \"253\"]\n  }\n}\n",
			want: []string{`3:25 warning duplicate: ignore lists "ipv6-icmp" twice`, `3:38 warning duplicate: ignore lists 253 twice`}},
		{name: "bad address", src: "filter {\n  stage \"address\" {\n    ignore = [\"10.0.0.300\"]\n  }\n}\n",
			want: []string{`3:15 error address: "10.0.0.300" is not an IP address`}},
		{name: "IPv4 prefix too long", src: "filter {\n  stage \"address\" {\n    ignore = [\"10.0.0.0/33\"]\n  }\n}\n",
			want: []string{`3:15 error address: "10.0.0.0/33" is not an IP network; an IPv4 prefix length is 0 to 32`}},
		{name: "IPv6 prefix too long", src: "filter {\n  stage \"address\" {\n    ignore = [\"2001:db8::/129\"]\n  }\n}\n",
			want: []string{`3:15 error address: an IPv6 prefix length is 0 to 128`}},
		{name: "host bits set", src: "filter {\n  stage \"address\" {\n    ignore = [\"10.1.2.3/8\"]\n  }\n}\n",
			want: []string{`3:15 warning host-bits: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?`}},
		{name: "duplicate address after masking", src: "filter {\n  stage \"address\" {\n    ignore = [\"10.0.0.0/8\", \"10.9.9.9/8\"]\n  }\n}\n",
			want: []string{`3:29 warning host-bits: 10.9.9.9/8`, `3:29 warning duplicate: ignore lists 10.0.0.0/8 twice`}},
		{name: "accept only IPv4", src: "filter {\n  stage \"address\" {\n    accept = [\"192.0.2.0/24\"]\n  }\n}\n",
			want: []string{`3:14 warning filter-family: accepts only IPv4 addresses, so it drops every IPv6 flow`}},
		{name: "accept only IPv6", src: "filter {\n  stage \"address\" {\n    accept = [\"2001:db8::/32\"]\n  }\n}\n",
			want: []string{`3:14 warning filter-family: accepts only IPv6 addresses, so it drops every IPv4 flow`}},
		{name: "accept both families", src: "filter {\n  stage \"address\" {\n    accept = [\"192.0.2.0/24\", \"::/0\"]\n  }\n}\n"},
		{name: "kernel filter too many IPv6", src: "filter {\n  run_in = \"kernel\"\n  stage \"address\" {\n    ignore = [" + manyIPv6(21) + "]\n  }\n}\n",
			want: []string{`4:14 error limit: has 0 IPv4 and 21 IPv6 entries, too many for run_in = "kernel"`}},
		{name: "tcp state typo", src: "filter {\n  stage \"tcp_state\" {\n    ignore = [\"establshed\"]\n  }\n}\n",
			want: []string{`3:15 error enum: filter stage "tcp_state": unknown tcp state "establshed" … did you mean "established"?`}},
		{name: "tcp state upper case and closed", src: "filter {\n  stage \"tcp_state\" {\n    ignore = [\"TIME_WAIT\", \"closed\"]\n  }\n}\n",
			want: []string{`3:15 warning case: tcp state "TIME_WAIT" should be written in lower case`}},
		{name: "tcp state stage after protocol stage without tcp", src: "filter {\n  stage \"protocol\" {\n    accept = [\"udp\"]\n  }\n  stage \"tcp_state\" {\n    ignore = [\"syn_sent\"]\n  }\n}\n",
			want: []string{`5:9 warning filter-dead: filter stage "tcp_state" never sees a tcp flow; the protocol stage at test.hcl:2:3 drops every tcp flow`}},
		{name: "tcp state stage after protocol stage ignoring tcp", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"tcp\"]\n  }\n  stage \"tcp_state\" {\n    ignore = [\"syn_sent\"]\n  }\n}\n",
			want: []string{`5:9 warning filter-dead`}},

		// caches
		{name: "cache tier typo", src: "cache \"intern\" {}\n",
			want: []string{`1:7 error enum: unknown cache tier "intern"; want "internal" or "external"; did you mean "internal"?`}},
		{name: "duplicate cache tier", src: "cache \"external\" {}\ncache \"external\" {}\n",
			want: []string{`2:7 error duplicate: duplicate cache "external"; the first is at test.hcl:1:1`}},
		{name: "cache size zero", src: "cache \"internal\" {\n  size = 0\n}\n",
			want: []string{`2:10 error range: cache "internal": size 0 is out of range`}},
		{name: "internal cache disabled with ftfw", src: syncUDP + "cache \"internal\" {\n  enabled = false\n}\n",
			want: []string{`9:13 error conflict: cache "internal" cannot be disabled with sync "ftfw"; only sync "notrack"`}},
		{name: "internal cache disabled with notrack", src: strings.Replace(syncUDP, "ftfw", "notrack", 1) + "cache \"internal\" {\n  enabled = false\n}\n"},
		{name: "external cache disabled with alarm", src: strings.Replace(syncUDP, "ftfw", "alarm", 1) + "cache \"external\" {\n  enabled = false\n}\n",
			want: []string{`9:13 error conflict: cache "external" cannot be disabled with sync "alarm"`}},
		{name: "commit timeout with external cache disabled", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" { commit_timeout = \"30s\" }", 1) + "cache \"external\" {\n  enabled = false\n}\n",
			want: []string{`1:32 warning no-effect: sync "ftfw": commit_timeout has no effect with the external cache disabled … disabled at test.hcl:9:13`}},

		// mode
		{name: "sync and stats", src: syncUDP + "stats {\n  syslog = \"daemon\"\n}\n",
			want: []string{`8:1 error conflict: sync and stats cannot be used together; the daemon either replicates state (sync, at test.hcl:1:1)`}},
		{name: "links without sync", src: "link \"a\" {\n  transport = \"udp\"\n  interface = \"eth0\"\n  peer = \"192.0.2.2\"\n  port = 3780\n}\n",
			want: []string{`1:1 error missing-block: link "a" has no sync block to serve`}},
		{name: "sync without links", src: "sync \"alarm\" {}\n",
			want: []string{`1:1 error missing-block: sync "alarm" needs at least one link`}},
		{name: "sync mode typo", src: strings.Replace(syncUDP, "ftfw", "ftwf", 1),
			want: []string{`1:6 error enum: unknown sync mode "ftwf"; want "ftfw", "notrack" or "alarm"; did you mean "ftfw"?`}},
		{name: "sync mode old name", src: strings.Replace(syncUDP, "ftfw", "NACK", 1),
			want: []string{`1:6 error enum: unknown sync mode "NACK"; "NACK" is the old name of "ftfw"`}},
		{name: "sync mode upper case", src: strings.Replace(syncUDP, "ftfw", "FTFW", 1),
			want: []string{`1:6 warning case: sync mode "FTFW" should be written in lower case`}},
		{name: "resend queue in alarm", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"alarm\" { resend_queue_size = 10 }", 1),
			want: []string{`1:36 error mode-option: sync "alarm" does not take resend_queue_size; resend_queue_size is an option of sync "ftfw"`}},
		{name: "refresh time in ftfw", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" { refresh_time = 10 }", 1),
			want: []string{`1:30 error mode-option: sync "ftfw" does not take refresh_time; refresh_time is an option of sync "alarm"`}},
		{name: "startup resync in alarm", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"alarm\" { startup_resync = true }", 1),
			want: []string{`1:33 error mode-option: is an option of sync "ftfw" or "notrack"`}},
		{name: "ack window above resend queue", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" {\nresend_queue_size = 100\nack_window_size = 200\n}", 1),
			want: []string{`3:19 warning range: ack_window_size 200 exceeds resend_queue_size 100`}},
		{name: "resend queue zero", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" { resend_queue_size = 0 }", 1),
			want: []string{`1:35 error range: sync "ftfw": resend_queue_size 0 is out of range`}},
		{name: "purge timeout negative", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" { purge_timeout = \"-1s\" }", 1),
			want: []string{`1:31 error duration: sync "ftfw": purge_timeout: "-1s" is negative`}},
		{name: "expectation helpers with sync off", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", "sync \"ftfw\" {\nexpectation_sync = false\nexpectation_helpers = [\"ftp\"]\n}", 1),
			want: []string{`3:23 error conflict: expectation_helpers is set but expectation_sync is false`}},

		// links
		{name: "transport typo", src: strings.Replace(syncUDP, `"udp"`, `"upd"`, 1),
			want: []string{`3:15 error enum: link "a": unknown transport "upd"; want "multicast", "udp" or "tcp"; did you mean "udp"?`}},
		{name: "missing interface", src: strings.Replace(syncUDP, "  interface = \"eth0\"\n", "", 1),
			want: []string{`2:1 error missing-attribute: link "a": interface is required`}},
		{name: "interface absent", src: strings.Replace(syncUDP, "eth0", "eth9", 1),
			want: []string{`4:15 warning interface-absent: link "a": interface "eth9" does not exist on this host`}},
		{name: "interface absent strict", src: strings.Replace(syncUDP, "eth0", "eth9", 1), strict: true,
			want: []string{`4:15 error interface-absent: link "a": interface "eth9" does not exist on this host`}},
		{name: "udp without peer", src: strings.Replace(syncUDP, "  peer      = \"192.0.2.2\"\n", "", 1),
			want: []string{`2:1 error missing-attribute: link "a": peer is required for transport "udp"`}},
		{name: "tcp without peer or local", src: strings.NewReplacer(`"udp"`, `"tcp"`, "  peer      = \"192.0.2.2\"\n", "").Replace(syncUDP),
			want: []string{`2:1 error missing-attribute: link "a": transport "tcp" needs peer or local`}},
		{name: "tcp with local only", src: strings.NewReplacer(`"udp"`, `"tcp"`, "peer     ", "local    ").Replace(syncUDP)},
		{name: "port missing", src: strings.Replace(syncUDP, "  port      = 3780\n", "", 1),
			want: []string{`2:1 error missing-attribute: link "a": port is required`}},
		{name: "port zero", src: strings.Replace(syncUDP, "3780", "0", 1),
			want: []string{`6:15 error range: link "a": port is required: 0 is not a port`}},
		{name: "port too big", src: strings.Replace(syncUDP, "3780", "70000", 1),
			want: []string{`6:15 error range: link "a": port 70000 is out of range; want 1 to 65535`}},
		{name: "bad peer", src: strings.Replace(syncUDP, "192.0.2.2", "192.0.2", 1),
			want: []string{`5:15 error address: link "a": peer "192.0.2" is not an IP address`}},
		{name: "peer with zone", src: strings.Replace(syncUDP, "192.0.2.2", "fe80::1%eth0", 1),
			want: []string{`5:15 error address: link "a": peer "fe80::1%eth0" must not carry a zone`}},
		{name: "mixed families", src: strings.Replace(syncUDP, "  port", "  local     = \"2001:db8::1\"\n  port", 1),
			want: []string{`5:15 error address-family: link "a": peer 192.0.2.2 is IPv4 but local 2001:db8::1 is IPv6`}},
		{name: "group not multicast", src: "sync \"ftfw\" {}\nlink \"m\" {\n  transport = \"multicast\"\n  interface = \"eth0\"\n  group = \"10.0.0.1\"\n  port = 3780\n}\n",
			want: []string{`5:11 error address: link "m": group 10.0.0.1 is not a multicast address`}},
		{name: "multicast without group", src: "sync \"ftfw\" {}\nlink \"m\" {\n  transport = \"multicast\"\n  interface = \"eth0\"\n  port = 3780\n}\n",
			want: []string{`2:1 error missing-attribute: link "m": group is required for transport "multicast"`}},
		{name: "multicast IPv6 group with IPv4 interface address", src: "sync \"ftfw\" {}\nlink \"m\" {\n  transport = \"multicast\"\n  interface = \"eth0\"\n  group = \"ff02::1:50\"\n  interface_address = \"192.0.2.1\"\n  port = 3780\n}\n",
			want: []string{`6:23 error address-family: link "m": interface_address 192.0.2.1 is IPv4 but group ff02::1:50 is IPv6`}},
		{name: "group on udp", src: strings.Replace(syncUDP, "  port", "  group     = \"225.0.0.50\"\n  port", 1),
			want: []string{`6:15 error transport-option: link "a": transport "udp" does not take group; group is an option of transport "multicast"`}},
		{name: "error queue length on udp", src: strings.Replace(syncUDP, "  port", "  error_queue_length = 10\n  port", 1),
			want: []string{`6:24 error transport-option: error_queue_length is an option of transport "tcp"`}},
		{name: "peer on multicast", src: "sync \"ftfw\" {}\nlink \"m\" {\n  transport = \"multicast\"\n  interface = \"eth0\"\n  group = \"225.0.0.50\"\n  peer = \"192.0.2.2\"\n  port = 3780\n}\n",
			want: []string{`6:10 error transport-option: link "m": transport "multicast" does not take peer; peer is an option of transport "udp" or "tcp"`}},
		{name: "send buffer too big", src: strings.Replace(syncUDP, "  port", "  send_buffer = \"4GiB\"\n  port", 1),
			want: []string{`6:17 error range: link "a": send_buffer 4GiB is out of range`}},
		{name: "checksum off on tcp", src: strings.NewReplacer(`"udp"`, `"tcp"`, "  port", "  checksum = false\n  port").Replace(syncUDP),
			want: []string{`6:14 warning no-effect: link "a": checksum = false has no effect on transport "tcp"`}},
		{name: "duplicate link name", src: syncUDP + strings.TrimPrefix(syncUDP, "sync \"ftfw\" {}\n"),
			want: []string{`8:6 error duplicate: duplicate link "a"; the first is at test.hcl:2:1`}},
		{name: "links of two transports", src: syncUDP + "link \"b\" {\n  transport = \"tcp\"\n  interface = \"lo\"\n  peer = \"192.0.2.3\"\n  port = 3780\n}\n",
			want: []string{`9:15 error conflict: links must use one transport: link "b" uses "tcp"; link "a" at test.hcl:3:15 uses "udp"`}},
		{name: "two default links", src: syncLinks(2, 0, 1),
			want: []string{`13:15 error conflict: link "l1": more than one link has default = true; link "l0" at test.hcl:6:15 is already the default`}},
		{name: "five links", src: syncLinks(5, -1, -1),
			want: []string{`30:1 error limit: too many links; conntrackd supports at most 4 links`}},

		// stats
		{name: "stats logs nothing", src: "stats {}\n",
			want: []string{`1:1 warning no-effect: stats logs nothing`}},
		{name: "stats syslog typo", src: "stats {\n  syslog = \"local8\"\n}\n",
			want: []string{`2:12 error enum: stats: unknown syslog facility "local8"`}},

		// helpers
		{name: "helper ok", src: "helpers {\n  helper \"ftp\" \"inet\" \"tcp\" {\n    policy \"ftp\" {\n      expect_max = 1\n      expect_timeout = \"5m\"\n    }\n  }\n}\n"},
		{name: "unknown helper", src: "helpers {\n  helper \"ftpp\" \"inet\" \"tcp\" {\n  }\n}\n",
			want: []string{`2:10 error enum: unknown helper "ftpp" … did you mean "ftp"?`}},
		{name: "helper protocol unsupported", src: "helpers {\n  helper \"ftp\" \"inet\" \"udp\" {\n  }\n}\n",
			want: []string{`2:23 error conflict: helper "ftp" does not support protocol "udp"; helper ftp works over "tcp"`}},
		{name: "helper family typo", src: "helpers {\n  helper \"tftp\" \"inet4\" \"udp\" {\n  }\n}\n",
			want: []string{`2:17 error enum: helper "tftp": unknown family "inet4"; want "inet" or "inet6"; did you mean "inet"?`}},
		{name: "duplicate helper", src: "helpers {\n  helper \"rpc\" \"inet\" \"tcp\" {\n  }\n  helper \"rpc\" \"inet\" \"tcp\" {\n  }\n  helper \"rpc\" \"inet\" \"udp\" {\n  }\n}\n",
			want: []string{`4:10 error duplicate: duplicate helper "rpc" for inet tcp; the first is at test.hcl:2:3`}},
		{name: "helper policy unknown, empty and duplicate", src: "helpers {\n  helper \"ftp\" \"inet\" \"tcp\" {\n    policy \"ftpx\" {\n      expect_max = 1\n    }\n    policy \"ftpx\" {\n      expect_max = 1\n    }\n    policy \"ftp\" {}\n  }\n}\n",
			want: []string{
				`3:12 error enum: helper "ftp": unknown policy "ftpx"; helper ftp defines one policy, "ftp"`,
				`6:12 error duplicate: helper "ftp": duplicate policy "ftpx"; the first is at test.hcl:3:5`,
				`9:5 error missing-attribute: helper "ftp": policy "ftp" is empty`,
			}},
		{name: "helper queue num too big", src: "helpers {\n  helper \"tftp\" \"inet6\" \"udp\" {\n    queue_num = 65536\n  }\n}\n",
			want: []string{`3:17 error range: helper "tftp": queue_num 65536 is out of range; want 0 to 65535`}},

		// all problems at once, sorted by position
		{name: "several problems", src: "daemon {\n  event_iteration_limit = -1\n}\nscheduler {\n  priority = 200\n}\n" + strings.Replace(syncUDP, "3780", "0", 1),
			want: []string{"2:27 error range: event_iteration_limit", "5:14 error range: priority 200", "12:15 error range: port is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := validateSource(t, tt.src, tt.strict)
			var got []string
			for _, d := range diags {
				got = append(got, fmt.Sprintf("%d:%d %s %s: %s; %s", d.Pos.Line, d.Pos.Column, d.Severity, d.Code, d.Message, d.Detail))
			}
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				pos, sub, _ := strings.Cut(tt.want[i], ": ")
				ok = strings.HasPrefix(got[i], pos+": ")
				// " … " separates parts that must appear in this order.
				rest := got[i]
				for _, part := range strings.Split(sub, " … ") {
					j := strings.Index(rest, part)
					if j < 0 {
						ok = false
						break
					}
					rest = rest[j+len(part):]
				}
			}
			if !ok {
				t.Errorf("diagnostics:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(tt.want, "\n       "))
			}
			for _, d := range diags {
				if d.Pos.File != "test.hcl" || d.Pos.Line == 0 || d.Pos.Column == 0 {
					t.Errorf("diagnostic without a position: %v", d)
				}
				if d.Message != strings.ToLower(d.Message[:1])+d.Message[1:] || strings.HasSuffix(d.Message, ".") {
					t.Errorf("message not in house style: %q", d.Message)
				}
			}
		})
	}
}

// syncLinks writes a sync block and n udp links named l0, l1, …, each 7
// lines long starting at line 2+7*i; links def1 and def2 (if >= 0) have
// default = true on their fifth line.
func syncLinks(n, def1, def2 int) string {
	var b strings.Builder
	b.WriteString("sync \"ftfw\" {}\n")
	for i := range n {
		def := "false"
		if i == def1 || i == def2 {
			def = "true"
		}
		fmt.Fprintf(&b, "link \"l%d\" {\n  transport = \"udp\"\n  interface = \"eth0\"\n  peer      = \"192.0.2.%d\"\n  default   = %s\n  port      = 3780\n}\n", i, i+1, def)
	}
	return b.String()
}

func manyIPv6(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("%q", fmt.Sprintf("2001:db8::%x", i+1)))
	}
	return strings.Join(s, ", ")
}

// TestValidateRuntime checks the values Validate produces: defaults, parsed
// values and normalisation.
func TestValidateRuntime(t *testing.T) {
	tests := []struct {
		name string
		src  string
		get  func(Runtime) any
		want any
	}{
		{name: "defaults without blocks", src: ``,
			get: func(r Runtime) any {
				return []any{r.Mode, r.Daemon, r.Netlink, r.Scheduler, r.Filter, r.Caches, r.Helpers.Enabled}
			},
			want: []any{ModeNone,
				DaemonSettings{LockFile: "/var/lock/conntrackd.lock", Systemd: true, EventIterationLimit: 100},
				NetlinkSettings{OverrunResync: 30 * time.Second},
				SchedulerSettings{Policy: SchedRR, Priority: 99},
				FilterSettings{RunIn: RunInUser},
				CacheSettings{Internal: CacheTier{true, 65536, 262144}, External: CacheTier{true, 65536, 262144}},
				false,
			}},
		{name: "no metrics endpoint without the block", src: ``, get: func(r Runtime) any { return r.Metrics },
			want: MetricsSettings{}},
		{name: "metrics listen address, IPv6 kept in brackets", src: "metrics {\n  listen = \" [::1]:09724\"\n}\n",
			get: func(r Runtime) any { return r.Metrics }, want: MetricsSettings{Listen: "[::1]:9724"}},
		{name: "metrics on every address", src: "metrics {\n  listen = \":9724\"\n}\n",
			get: func(r Runtime) any { return r.Metrics }, want: MetricsSettings{Listen: ":9724"}},
		{name: "ftfw defaults", src: syncUDP, get: func(r Runtime) any { return r.Sync },
			want: SyncSettings{Mode: SyncFTFW, ResendQueueSize: 131072, ACKWindowSize: 300, PurgeTimeout: 60 * time.Second}},
		{name: "alarm defaults", src: strings.Replace(syncUDP, "ftfw", "alarm", 1), get: func(r Runtime) any { return r.Sync },
			want: SyncSettings{Mode: SyncAlarm, RefreshTime: 60 * time.Second, CacheTimeout: 180 * time.Second, PurgeTimeout: 60 * time.Second}},
		{name: "sync options", src: strings.Replace(syncUDP, "sync \"ftfw\" {}", `sync "notrack" {
  startup_resync = true
  commit_timeout = "3m"
  purge_timeout = 15
  tcp_window_tracking = true
  expectation_helpers = ["ftp", "sip"]
}`, 1), get: func(r Runtime) any { return r.Sync },
			want: SyncSettings{Mode: SyncNotrack, StartupResync: true, CommitTimeout: 3 * time.Minute, PurgeTimeout: 15 * time.Second,
				TCPWindowTracking: true, ExpectationSync: true, ExpectationHelpers: []string{"ftp", "sip"}}},
		{name: "udp link", src: strings.Replace(syncUDP, "  port", "  local = \"192.0.2.1\"\n  send_buffer = \"1220KiB\"\n  receive_buffer = 65536\n  checksum = false\n  port", 1),
			get: func(r Runtime) any { return r.Links },
			want: []LinkSettings{{Name: "a", Transport: TransportUDP, Default: true, Interface: "eth0",
				Local: netip.MustParseAddr("192.0.2.1"), Peer: netip.MustParseAddr("192.0.2.2"), Port: 3780,
				SendBuffer: 1249280, ReceiveBuffer: 65536, Checksum: false}}},
		{name: "tcp link gets the error queue default", src: strings.Replace(syncUDP, `"udp"`, `"tcp"`, 1),
			get: func(r Runtime) any { return r.Links[0].ErrorQueueLength }, want: 128},
		{name: "multicast link", src: "sync \"ftfw\" {}\nlink \"m\" {\n  transport = \"multicast\"\n  interface = \"eth0\"\n  group = \"225.0.0.50\"\n  interface_address = \"192.0.2.1\"\n  port = 3780\n}\n",
			get: func(r Runtime) any { return r.Links },
			want: []LinkSettings{{Name: "m", Transport: TransportMulticast, Default: true, Interface: "eth0",
				Group: netip.MustParseAddr("225.0.0.50"), InterfaceAddress: netip.MustParseAddr("192.0.2.1"), Port: 3780, Checksum: true}}},
		{name: "first link is active without a default", src: syncLinks(3, -1, -1),
			get:  func(r Runtime) any { return defaults(r.Links) },
			want: []bool{true, false, false}},
		{name: "the default link is active", src: syncLinks(3, 2, -1),
			get:  func(r Runtime) any { return []any{defaults(r.Links), r.ActiveLink()} },
			want: []any{[]bool{false, false, true}, 2}},
		{name: "filter chain", src: `filter {
  run_in = "kernel"
  stage "protocol" {
    accept = ["tcp", "udp", "132"]
  }
  stage "address" {
    ignore = ["127.0.0.1", "10.1.0.0/16", "::1", "10.0.0.0/8"]
  }
  stage "tcp_state" {
    accept = ["established", "closed"]
  }
}
`, get: func(r Runtime) any { return r.Filter },
			want: FilterSettings{RunIn: RunInKernel, Stages: []FilterStage{
				{Kind: StageProtocol, Policy: PolicyAccept, Protocols: []uint8{6, 17, 132}},
				{Kind: StageAddress, Policy: PolicyIgnore, Prefixes: []netip.Prefix{
					netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.1.0.0/16"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}},
				{Kind: StageTCPState, Policy: PolicyAccept, TCPStates: []TCPState{TCPEstablished, TCPClose}},
			}}},
		{name: "protocol names of /etc/protocols", src: "filter {\n  stage \"protocol\" {\n    ignore = [\"ip\", \"esp\", \"icmpv6\", \"udplite\", \"255\"]\n  }\n}\n",
			get:  func(r Runtime) any { return r.Filter.Stages },
			want: []FilterStage{{Kind: StageProtocol, Policy: PolicyIgnore, Protocols: []uint8{0, 50, 58, 136, 255}}}},
		{name: "daemon, log, control, netlink, scheduler", src: `daemon {
  lock_file = "/run/ctsync.lock"
  systemd = false
  event_iteration_limit = 200
}
log {
  file = "/var/log/ctsync.log"
  syslog = "local3"
}
control {
  path = "/run/ctsync.sock"
}
netlink {
  buffer_size = "2MiB"
  buffer_size_max_growth = "8MiB"
  overrun_resync = "off"
  events_reliable = true
}
scheduler {
  policy = "fifo"
  priority = 50
}
`, get: func(r Runtime) any { return []any{r.Daemon, r.Log, r.Control, r.Netlink, r.Scheduler} },
			want: []any{
				DaemonSettings{LockFile: "/run/ctsync.lock", EventIterationLimit: 200},
				LogSettings{File: "/var/log/ctsync.log", Syslog: FacilityLocal3},
				ControlSettings{Path: "/run/ctsync.sock"},
				NetlinkSettings{BufferSize: 2 << 20, BufferSizeMaxGrowth: 8 << 20, EventsReliable: true},
				SchedulerSettings{Policy: SchedFIFO, Priority: 50},
			}},
		{name: "scheduler other", src: "scheduler {\n  policy = \"other\"\n}\n", get: func(r Runtime) any { return r.Scheduler },
			want: SchedulerSettings{Policy: SchedOther}},
		{name: "polling mode", src: "daemon {\n  poll_interval = \"1m\"\n}\n", get: func(r Runtime) any { return r.Daemon.PollInterval },
			want: time.Minute},
		{name: "stats", src: "stats {\n  log_file = \"/var/log/stats.log\"\n  syslog = \"daemon\"\n}\n",
			get:  func(r Runtime) any { return []any{r.Mode, r.Stats} },
			want: []any{ModeStats, StatsSettings{LogFile: "/var/log/stats.log", Syslog: FacilityDaemon}}},
		{name: "notrack without internal cache, external sized", src: strings.Replace(syncUDP, "ftfw", "notrack", 1) +
			"cache \"internal\" {\n  enabled = false\n}\ncache \"external\" {\n  size = 1024\n  limit = 4096\n}\n",
			get:  func(r Runtime) any { return r.Caches },
			want: CacheSettings{Internal: CacheTier{false, 65536, 262144}, External: CacheTier{true, 1024, 4096}}},
		{name: "helpers", src: `helpers {
  setup = true
  helper "rpc" "inet6" "udp" {
    queue_num = 5
    queue_len = 2048
    policy "rpc" {
      expect_max = 3
      expect_timeout = 300
    }
  }
}
`, get: func(r Runtime) any { return r.Helpers },
			want: HelpersSettings{Enabled: true, Setup: true, Helpers: []HelperSettings{{Name: "rpc", Family: FamilyInet6, Protocol: 17,
				QueueNum: 5, QueueLen: 2048, Policies: []HelperPolicySettings{{Name: "rpc", ExpectMax: 3, ExpectTimeout: 5 * time.Minute}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, diags := validateSource(t, tt.src, false)
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%v", diags)
			}
			if diff := cmp.Diff(tt.want, tt.get(r), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func defaults(ls []LinkSettings) []bool {
	var out []bool
	for _, l := range ls {
		out = append(out, l.Default)
	}
	return out
}

func TestValidateNil(t *testing.T) {
	r, diags := Validate(nil, ValidateOptions{})
	if len(diags) != 0 || r.Mode != ModeNone {
		t.Errorf("Validate(nil) = %v, %v", r, diags)
	}
}

func TestEnumStrings(t *testing.T) {
	got := []string{SyncNotrack.String(), TransportTCP.String(), StageTCPState.String(), PolicyIgnore.String(),
		RunInKernel.String(), SchedFIFO.String(), FacilityLocal7.String(), FamilyInet6.String(), TCPListen.String(), ModeStats.String()}
	want := []string{"notrack", "tcp", "tcp_state", "ignore", "kernel", "fifo", "local7", "inet6", "listen", "stats"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDiagnosticCodesDocumented keeps docs/diagnostics.md complete: every
// code that validate.go can report has a row there.
func TestDiagnosticCodesDocumented(t *testing.T) {
	src, err := os.ReadFile("validate.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/diagnostics.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:Errorf|Warnf)\((?:[^,()]|\([^)]*\))+, "([a-z-]+)"|Code: +"([a-z-]+)"`)
	found := 0
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		code := m[1] + m[2]
		found++
		if !strings.Contains(string(doc), "| `"+code+"` |") {
			t.Errorf("code %q is not documented in docs/diagnostics.md", code)
		}
	}
	if found < 20 {
		t.Errorf("found only %d diagnostic codes in validate.go; has the call form changed?", found)
	}
}
