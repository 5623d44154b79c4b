package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"gopkg.in/yaml.v3"
)

// The package's -update flag may be declared by another test file as a
// package variable (initialised before init runs); declare it only if not.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func wptr[T any](v T) *T { return &v }

// richFile sets every block and attribute of the model.
func richFile() *File {
	return &File{
		Daemon: &Daemon{
			LockFile:            wptr("/var/lock/ctsync.lock"),
			Systemd:             wptr(false),
			PollInterval:        wptr("10s"),
			EventIterationLimit: wptr(int64(200)),
		},
		Log:     &Log{File: wptr("/var/log/ctsync.log"), Syslog: wptr("local3")},
		Control: &Control{Path: wptr("/run/ctsync.ctl")},
		Metrics: &Metrics{Listen: "127.0.0.1:9724"},
		Netlink: &Netlink{
			BufferSize:          wptr("2MiB"),
			BufferSizeMaxGrowth: wptr("8MiB"),
			OverrunResync:       wptr("off"),
			EventsReliable:      wptr(true),
		},
		Scheduler: &Scheduler{Policy: wptr("fifo"), Priority: wptr(int64(50))},
		Filter: &Filter{
			RunIn: wptr("kernel"),
			Stages: []Stage{
				{Kind: "protocol", Accept: []string{"tcp", "udp", "sctp"}},
				{Kind: "address", Ignore: []string{"127.0.0.1", "::1", "192.168.0.100", "192.168.0.101", "10.0.0.0/8"}},
				{Kind: "tcp_state", Accept: []string{"established", "syn_sent", "syn_recv", "fin_wait", "close_wait", "last_ack", "time_wait"}},
			},
		},
		Caches: []Cache{
			{Tier: "internal", Enabled: wptr(true), Size: wptr(int64(32768)), Limit: wptr(int64(131072))},
			{Tier: "external", Enabled: wptr(false)},
		},
		Sync: &Sync{
			Mode:               "ftfw",
			ResendQueueSize:    wptr(int64(131072)),
			ACKWindowSize:      wptr(int64(300)),
			StartupResync:      wptr(true),
			RefreshTime:        wptr("1m"),
			CacheTimeout:       wptr("3m"),
			CommitTimeout:      wptr("0s"),
			PurgeTimeout:       wptr("60s"),
			TCPWindowTracking:  wptr(false),
			ExpectationSync:    wptr(true),
			ExpectationHelpers: []string{"ftp", "sip"},
		},
		Links: []Link{
			{
				Name: "primary", Transport: "multicast", Default: wptr(true), Interface: wptr("eth2"),
				Group: wptr("225.0.0.50"), InterfaceAddress: wptr("192.168.100.100"), Port: wptr(int64(3780)),
				SendBuffer: wptr("1220KiB"), ReceiveBuffer: wptr("1220KiB"), Checksum: wptr(true),
			},
			{
				Name: "backup", Transport: "udp", Interface: wptr("eth3"), Local: wptr("10.0.0.1"), Peer: wptr("10.0.0.2"),
				Port: wptr(int64(3781)), ErrorQueueLength: wptr(int64(64)), Checksum: wptr(false),
			},
		},
		Stats: &Stats{LogFile: wptr("/var/log/ctsync-stats.log"), Syslog: wptr("daemon")},
		Helpers: &Helpers{
			Setup: wptr(true),
			Helper: []Helper{
				{Name: "ftp", Family: "inet", Protocol: "tcp", QueueNum: wptr(int64(5)), QueueLen: wptr(int64(10240)),
					Policies: []HelperPolicy{{Name: "ftp", ExpectMax: wptr(int64(1)), ExpectTimeout: wptr("300s")}}},
				{Name: "rpc", Family: "inet", Protocol: "tcp", QueueNum: wptr(int64(3))},
				{Name: "rpc", Family: "inet", Protocol: "udp", QueueNum: wptr(int64(4)),
					Policies: []HelperPolicy{{Name: "rpc", ExpectTimeout: wptr("5m")}}},
			},
		},
	}
}

func richComments() Comments {
	return Comments{
		"":                             {Lead: []string{"Cluster fw1/fw2.", "", "Migrated from conntrackd.conf."}},
		"daemon":                       {Lead: []string{"process settings"}, Line: "legacy General"},
		"daemon.lock_file":             {Line: "not the default"},
		"link[primary]":                {Lead: []string{"the dedicated link"}},
		"link[primary].port":           {Lead: []string{"legacy Group"}, Line: "UDP port"},
		"cache[internal].size":         {Line: "buckets"},
		"sync[ftfw]":                   {Line: "reliable mode"},
		"sync[ftfw].resend_queue_size": {Lead: []string{"objects, not bytes"}},
		"filter.stage[address]":        {Lead: []string{"Never replicate the firewall's own traffic."}},
		Path("filter", Block("stage", "address"), Elem("ignore", 0)): {Line: "loopback"},
		Path("filter", Block("stage", "address"), Elem("ignore", 2)): {Line: "virtual IP 1"},
		Path("filter", Block("stage", "address"), Elem("ignore", 3)): {Lead: []string{"the second VIP"}, Line: "virtual IP 2"},
		"helpers.helper[ftp,inet,tcp]":                               {Line: "needs nf_conntrack_ftp unloaded"},
		Path("helpers", Block("helper", "rpc,inet,udp")):             {Lead: []string{"rpc over UDP"}},
		"helpers.helper[rpc,inet,udp].policy[rpc]":                   {Line: "expect_max is 0"},
		"nothing.here": {Line: "ignored"},
	}
}

// escapeFile has strings that need escaping and plain blocks with no body.
func escapeFile() *File {
	return &File{
		Daemon:  &Daemon{},
		Control: &Control{Path: wptr(`/run/ct "sync"\${HOME}%{x}.ctl`)},
		Log:     &Log{Syslog: wptr("on")},
		Filter: &Filter{Stages: []Stage{
			{Kind: "address", Accept: []string{}},
			{Kind: "protocol", Ignore: []string{"0x10", "yes", "12:30", "1e3", "null"}},
		}},
		Links:   []Link{{Name: `a "b"`, Transport: "tcp", Local: wptr("::"), Peer: wptr("fe80::1")}},
		Helpers: &Helpers{},
	}
}

func TestWriteGolden(t *testing.T) {
	tests := []struct {
		name string
		file *File
		c    Comments
	}{
		{"rich", richFile(), richComments()},
		{"rich-nocomments", richFile(), nil},
		{"escapes", escapeFile(), Comments{"control.path": {Lead: []string{"multi\nline"}, Line: "a # in a comment"}}},
		{"empty", &File{}, Comments{"": {Lead: []string{"nothing configured"}}}},
	}
	for _, tt := range tests {
		for _, format := range []string{"hcl", "yaml"} {
			t.Run(tt.name+"."+format, func(t *testing.T) {
				var buf bytes.Buffer
				write := WriteHCL
				if format == "yaml" {
					write = WriteYAML
				}
				if err := write(&buf, tt.file, tt.c); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "write", tt.name+"."+format)
				if updateGolden() {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), buf.String()); diff != "" {
					t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
				}
				// Writing twice gives the same bytes.
				var again bytes.Buffer
				if err := write(&again, tt.file, tt.c); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again.Bytes(), buf.Bytes()) {
					t.Errorf("second write differs from the first")
				}
			})
		}
	}
}

func decodeHCLText(t *testing.T, src []byte) *File {
	t.Helper()
	hf, hds := hclsyntax.ParseConfig(src, "written.hcl", hcl.InitialPos)
	if hds.HasErrors() {
		t.Fatalf("written HCL does not parse: %v\n%s", hds, src)
	}
	var f File
	if diags := decodeBody(hf.Body, nil, &f); diags.HasErrors() {
		t.Fatalf("written HCL does not decode: %v\n%s", diags, src)
	}
	return &f
}

func TestWriteHCLRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file *File
	}{
		{"rich", richFile()},
		{"escapes", escapeFile()},
		{"empty", &File{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteHCL(&buf, tt.file, richComments()); err != nil {
				t.Fatal(err)
			}
			got := decodeHCLText(t, buf.Bytes())
			if diff := cmp.Diff(tt.file, got, cmpopts.IgnoreTypes(Node{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s\n%s", diff, buf.Bytes())
			}
			// The canonical form is a fixed point of hclwrite.Format.
			if formatted := FormatHCL(buf.Bytes()); !bytes.Equal(formatted, buf.Bytes()) {
				t.Errorf("FormatHCL changes canonical output:\n%s", cmp.Diff(buf.String(), string(formatted)))
			}
		})
	}
}

// TestWriteYAMLShape reads the YAML back generically and checks the shape
// rules of the YAML front end, and that strings stay strings.
func TestWriteYAMLShape(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteYAML(&buf, richFile(), nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("written YAML does not parse: %v\n%s", err, buf.Bytes())
	}
	want := map[string]any{
		"sync.ftfw.startup_resync": true,
		"link.primary.port":        3780,
		"cache.external.enabled":   false,
		"scheduler.policy":         "fifo",
	}
	for path, w := range want {
		var v any = got
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s: %v is not a mapping", path, v)
			}
			v = m[k]
		}
		if diff := cmp.Diff(w, v); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
	// Two "rpc" helpers: the list form with the label as "name".
	helpers := got["helpers"].(map[string]any)["helper"]
	list, ok := helpers.([]any)
	if !ok || len(list) != 3 {
		t.Fatalf("helpers.helper = %#v, want a list of 3", helpers)
	}
	if diff := cmp.Diff(map[string]any{"name": "rpc", "family": "inet", "protocol": "udp", "queue_num": 4,
		"policy": map[string]any{"rpc": map[string]any{"expect_timeout": "5m"}}}, list[2]); diff != "" {
		t.Errorf("third helper (-want +got):\n%s", diff)
	}

	buf.Reset()
	if err := WriteYAML(&buf, escapeFile(), nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"0x10"`, `"yes"`, `"12:30"`, `"1e3"`, `"null"`, `syslog: "on"`} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("YAML output lacks quoted %s:\n%s", s, buf.Bytes())
		}
	}
}

func TestCommentPaths(t *testing.T) {
	paths := CommentPaths(richFile())
	have := map[string]bool{}
	for _, p := range paths {
		if have[p] {
			t.Errorf("duplicate path %q", p)
		}
		have[p] = true
	}
	for key := range richComments() {
		if key == "nothing.here" {
			if have[key] {
				t.Errorf("CommentPaths offers %q", key)
			}
			continue
		}
		if !have[key] {
			t.Errorf("CommentPaths lacks %q", key)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"attr", Path("daemon", "lock_file"), "daemon.lock_file"},
		{"labeled", Path(Block("link", "primary"), "port"), "link[primary].port"},
		{"first occurrence", BlockN("helper", "rpc", 1), "helper[rpc]"},
		{"second occurrence", Path("helpers", BlockN("helper", "rpc", 2)), "helpers.helper[rpc#2]"},
		{"element", Path("filter", Block("stage", "address"), Elem("ignore", 3)), "filter.stage[address].ignore[3]"},
		{"header", Path(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestWriteSizes: a size that is plain bytes goes out as a number, so that
// it reads as a size (receive_buffer = 262142), and sizes with a unit stay
// strings; both read back to the same value in each syntax.
func TestWriteSizes(t *testing.T) {
	f := &File{Netlink: &Netlink{BufferSize: yptr("262142"), BufferSizeMaxGrowth: yptr("8MiB")},
		Links: []Link{{Name: "a", Transport: "udp", SendBuffer: yptr("0x10"), ReceiveBuffer: yptr("1000")}}}
	tests := []struct {
		syntax Syntax
		write  func(*bytes.Buffer) error
		want   []string
	}{
		{SyntaxHCL, func(b *bytes.Buffer) error { return WriteHCL(b, f, nil) },
			[]string{"buffer_size            = 262142\n", `buffer_size_max_growth = "8MiB"`, `send_buffer    = "0x10"`, "receive_buffer = 1000\n"}},
		{SyntaxYAML, func(b *bytes.Buffer) error { return WriteYAML(b, f, nil) },
			[]string{"buffer_size: 262142\n", "buffer_size_max_growth: 8MiB\n", "send_buffer: \"0x10\"\n", "receive_buffer: 1000\n"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.syntax), func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.Bytes())
				}
			}
			got, diags := Parse("c."+string(tt.syntax), buf.Bytes(), LoadOptions{Syntax: tt.syntax})
			if diags.HasErrors() {
				t.Fatalf("%v\n%s", diags, buf.Bytes())
			}
			if diff := cmp.Diff(f, got, ignoreSyntax); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
