package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
)

// TestMigrateHeaderWarnings: the output's "Warnings:" list carries what is
// true of the legacy file, and is left out when every warning was only true
// of this host (an interface it lacks), rather than written empty.
func TestMigrateHeaderWarnings(t *testing.T) {
	const link = "Sync {\n Mode FTFW {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth9\n }\n}\n"
	tests := []struct {
		name         string
		src          string
		hasInterface bool
		want         []string // lines of the header, in order
		wantNot      string
	}{
		{"host-dependent warnings only", link, false, []string{"# Migrated from t.conf by ctsync migrate.\n\nsync"}, "Warnings"},
		{"no warning", link, true, []string{"# Migrated from t.conf by ctsync migrate.\n\nsync"}, "Warnings"},
		{"a warning about the file", "General {\n Nice -1\n}\n" + link, false,
			[]string{"# Warnings:\n", "# t.conf:2:2: warning: Nice"}, "interface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, diags := Migrate("t.conf", []byte(tt.src), MigrateOptions{InterfaceExists: func(string) bool { return tt.hasInterface }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			absent := false
			for _, d := range diags {
				absent = absent || d.Code == "interface-absent"
			}
			if absent == tt.hasInterface {
				t.Errorf("interface-absent warning given: %v, want %v (%v)", absent, !tt.hasInterface, diags)
			}
			rest := string(out)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks (or misorders) %q:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if header, _, _ := strings.Cut(string(out), "\nsync"); strings.Contains(header, tt.wantNot) {
				t.Errorf("header has %q:\n%s", tt.wantNot, header)
			}
		})
	}
}

// TestLinkNames: links are named for their role, as an operator would name
// a redundant pair: the one conntrackd uses at start (Default, else the
// first) is "primary", the fail-over links "backup", "backup2", ...
func TestLinkNames(t *testing.T) {
	udp := func(iface, extra string) string {
		return " UDP " + extra + "{\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface " + iface + "\n }\n"
	}
	tests := []struct {
		name  string
		links string
		want  []string // link names in file order
	}{
		{"one link", udp("ens7f1.57", ""), []string{"primary"}},
		{"first is the default", udp("eth1", "") + udp("eth2", ""), []string{"primary", "backup"}},
		{"Default marks the primary", udp("eth1", "") + udp("eth2", "Default ") + udp("eth3", ""), []string{"backup", "primary", "backup2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lf, diags := Parse("t.conf", []byte("Sync {\n Mode FTFW {\n }\n"+tt.links+"}\n"), Options{Dialect: DialectLenient, InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			f, _, cds := Convert(lf)
			if cds.HasErrors() {
				t.Fatal(cds)
			}
			var got []string
			for _, l := range f.Links {
				got = append(got, l.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("links named %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLegacySnippets: diagnostics on a legacy file carry their end (the
// token) and the source line, from each stage: parsing, conversion and
// validation of the converted model.
func TestLegacySnippets(t *testing.T) {
	src := "General {\n\tHashSize 8192x\n}\n"
	_, diags := Parse("c.conf", []byte(src), Options{Dialect: Dialect147})
	check := func(stage string, diags config.Diagnostics, code string, line, col, endCol int, text string) {
		t.Helper()
		for _, d := range diags {
			if d.Code != code {
				continue
			}
			if d.Pos.Line != line || d.Pos.Column != col || d.End.Line != line || d.End.Column != endCol {
				t.Errorf("%s: %v spans %d:%d-%d:%d, want %d:%d-%d:%d", stage, d, d.Pos.Line, d.Pos.Column, d.End.Line, d.End.Column, line, col, line, endCol)
			}
			if d.Snippet == nil || d.Snippet.Code != text {
				t.Errorf("%s: %v snippet %+v, want %q", stage, d, d.Snippet, text)
			}
			return
		}
		t.Errorf("%s: no %s diagnostic in %v", stage, code, diags)
	}
	check("parse", diags, "unknown-keyword", 2, 15, 16, "\tHashSize 8192x")

	lf, diags := Parse("c.conf", []byte("Sync {\n Mode FTFW {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 70000\n  Interface eth0\n }\n}\n"), Options{Dialect: DialectLenient})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f, _, _ := Convert(lf)
	_, vds := config.Validate(f, config.ValidateOptions{InterfaceExists: func(string) bool { return true }})
	check("validate", vds, "range", 7, 8, 13, "  Port 70000")
}

// TestUniqueLabels: in what migrate writes, no two sibling blocks have the
// same labels, as HCL users expect; conntrackd's "Type rpc inet tcp" and
// "Type rpc inet udp" are helper "rpc" "inet" "tcp" and "rpc" "inet" "udp".
func TestUniqueLabels(t *testing.T) {
	src := "Helper {\n Type rpc inet tcp {\n  QueueNum 1\n }\n Type rpc inet udp {\n  QueueNum 2\n }\n Type ssdp inet udp {\n }\n Type ssdp inet tcp {\n }\n}\n"
	out, diags := Migrate("t.conf", []byte(src), MigrateOptions{InterfaceExists: func(string) bool { return true }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, w := range []string{`helper "rpc" "inet" "tcp" {`, `helper "rpc" "inet" "udp" {`, `helper "ssdp" "inet" "udp" {}`, `helper "ssdp" "inet" "tcp" {}`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}

	for _, path := range corpusFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, diags := Migrate(filepath.Base(path), src, MigrateOptions{InterfaceExists: func(string) bool { return true }})
		if diags.HasErrors() {
			continue
		}
		f, pds := config.Parse("out.hcl", out, config.LoadOptions{})
		if pds.HasErrors() {
			t.Fatalf("%s: output does not parse: %v", path, pds)
		}
		// CommentPaths tells a second block with the same labels by "#2".
		for _, p := range config.CommentPaths(f) {
			if strings.Contains(p, "#") {
				t.Errorf("%s: two sibling blocks share the labels of %s", filepath.Base(path), p)
			}
		}
	}
}

// TestReplacementExamples: the examples that messages about removed
// keywords and about a State filter show are valid conntrackd.conf, as
// conntrackd 1.4.7 reads it.
func TestReplacementExamples(t *testing.T) {
	examples := map[string]string{}
	for _, k := range Grammar {
		if _, ex, ok := strings.Cut(k.Replacement, "such as "); ok {
			examples[k.Path] = ex
		}
	}
	if len(examples) == 0 {
		t.Fatal("no replacement example found")
	}
	// The State hint shows the inside of a filter.
	_, diags := Parse("s.conf", []byte("General {\n Filter {\n  State Accept {\n   ESTABLISHED\n  }\n }\n}\n"), Options{Dialect: Dialect147})
	for _, d := range diags {
		if _, ex, ok := strings.Cut(d.Detail, "for TCP\": "); ok {
			examples["State hint"] = "General { Filter { " + ex + " } }"
		}
	}
	if examples["State hint"] == "" {
		t.Errorf("no State hint in %v", diags)
	}
	for name, ex := range examples {
		t.Run(name, func(t *testing.T) {
			lf, diags := Parse("example.conf", []byte(ex+"\n"), Options{Dialect: Dialect147})
			if diags.HasErrors() {
				t.Fatalf("example %q does not parse: %v", ex, diags)
			}
			if _, _, cds := Convert(lf); cds.HasErrors() {
				t.Errorf("example %q does not convert: %v", ex, cds)
			}
		})
	}
}

// TestProtocolName: a legacy protocol item in the model's spelling. Names
// resolve exactly, as getprotobyname does; numbers as the model reads them.
func TestProtocolName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"TCP", "tcp", true}, {"IPSEC-ESP", "esp", true}, {"Tcp", "", false},
		{"17", "udp", true}, {"0", "ip", true}, {"7", "7", true}, {"255", "255", true},
		{"256", "", false}, {"99999999999999999999", "", false},
	}
	for _, tt := range tests {
		if got, ok := protocolName(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("protocolName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
