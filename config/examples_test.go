package config

import (
	"regexp"
	"strings"
	"testing"
)

// exampleContexts says where each example of a hint is written, per
// syntax: %s stands for the example. Every example must have one (legacy
// ones are in examples_legacy_test.go).
var exampleContexts = map[string]map[Syntax]string{
	"sync":               {SyntaxHCL: "%s", SyntaxJSON: "{%s}", SyntaxYAML: "%s"},
	"link":               {SyntaxHCL: "%s", SyntaxJSON: "{%s}", SyntaxYAML: "%s"},
	"group":              {SyntaxHCL: inLinkHCL, SyntaxJSON: inLinkJSON, SyntaxYAML: inLinkYAML},
	"group6":             {SyntaxHCL: inLinkHCL, SyntaxJSON: inLinkJSON, SyntaxYAML: inLinkYAML},
	"peer":               {SyntaxHCL: inLinkHCL, SyntaxJSON: inLinkJSON, SyntaxYAML: inLinkYAML},
	"port":               {SyntaxHCL: inLinkHCL, SyntaxJSON: inLinkJSON, SyntaxYAML: inLinkYAML},
	"sync alarm":         {SyntaxHCL: "%s", SyntaxJSON: "{%s}", SyntaxYAML: "%s"},
	"overrun_resync off": {SyntaxHCL: "netlink {\n  %s\n}\n", SyntaxJSON: `{"netlink": {%s}}`, SyntaxYAML: "netlink: {%s}\n"},
	"run_in user":        {SyntaxHCL: "filter {\n  %s\n}\n", SyntaxJSON: `{"filter": {%s}}`, SyntaxYAML: "filter: {%s}\n"},
	"stage protocol":     inStage("protocol"),
	"stage address":      inStage("address"),
	"stage tcp_state":    inStage("tcp_state"),
}

const (
	inLinkHCL  = "link \"x\" {\n  transport = \"udp\"\n  %s\n}\n"
	inLinkJSON = `{"link": {"x": {"transport": "udp", %s}}}`
	inLinkYAML = "link: {x: {transport: udp, %s}}\n"
)

func inStage(kind string) map[Syntax]string {
	return map[Syntax]string{
		SyntaxHCL:  "filter {\n  stage \"" + kind + "\" {\n    %s\n  }\n}\n",
		SyntaxJSON: `{"filter": {"stage": {"` + kind + `": {%s}}}}`,
		SyntaxYAML: "filter: {stage: {" + kind + ": {%s}}}\n",
	}
}

// TestExamplesParse: every example a message shows is valid input in its
// syntax, in its place, so that pasting it works; and validation finds no
// fault in the example itself.
func TestExamplesParse(t *testing.T) {
	lo := ValidateOptions{InterfaceExists: func(string) bool { return true }}
	for key, e := range examples {
		ctx, ok := exampleContexts[key]
		if !ok {
			t.Errorf("example %q has no context in exampleContexts", key)
			continue
		}
		for _, tt := range []struct {
			syntax Syntax
			text   string
		}{{SyntaxHCL, e.hcl}, {SyntaxJSON, e.json}, {SyntaxYAML, e.yaml}} {
			src := strings.Replace(ctx[tt.syntax], "%s", tt.text, 1)
			t.Run(key+"/"+string(tt.syntax), func(t *testing.T) {
				if strings.ContainsAny(tt.text, "\n") {
					t.Errorf("example %q spans lines; a detail is one line", tt.text)
				}
				f, diags := Parse("example."+string(tt.syntax), []byte(src), LoadOptions{Syntax: tt.syntax})
				if diags.HasErrors() {
					t.Fatalf("example %q does not parse:\n%s\n%v", tt.text, src, diags)
				}
				// The example's own lines must not be what validation
				// complains about (its context may be incomplete).
				_, vds := Validate(f, lo)
				for _, d := range vds {
					if d.Severity == Error && d.Pos.Line > 0 && strings.Contains(strings.Split(src, "\n")[d.Pos.Line-1], tt.text) &&
						(d.Code == "enum" || d.Code == "type" || d.Code == "address" || d.Code == "range" || d.Code == "value") {
						t.Errorf("example %q: %v", tt.text, d)
					}
				}
			})
		}
	}
}

// TestHintsShowExamples: the messages that show configuration show the
// registered example, in the file's syntax.
func TestHintsShowExamples(t *testing.T) {
	lo := ValidateOptions{InterfaceExists: func(string) bool { return true }}
	tests := []struct {
		name         string
		hcl, yaml    string
		key          string
		wantContains string
	}{
		{"no link", "sync \"ftfw\" {}\n", "sync: {ftfw: {}}\n", "link", "add a link block"},
		{"no sync", "link \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  peer = \"192.0.2.2\"\n  port = 3780\n}\n",
			"link: {a: {transport: udp, interface: lo, peer: 192.0.2.2, port: 3780}}\n", "sync", "to replicate state"},
		{"no peer", "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  port = 3780\n}\n",
			"sync: {ftfw: {}}\nlink: {a: {transport: udp, interface: lo, port: 3780}}\n", "peer", "the other firewall"},
		{"no group", "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"multicast\"\n  interface = \"lo\"\n  port = 3780\n}\n",
			"sync: {ftfw: {}}\nlink: {a: {transport: multicast, interface: lo, port: 3780}}\n", "group", "(IPv4)"},
		{"reliable events with overrun_resync", "netlink {\n  events_reliable = true\n  overrun_resync = \"30s\"\n}\n",
			"netlink: {events_reliable: true, overrun_resync: 30s}\n", "overrun_resync off", "never reports overruns"},
		{"stage without list", "filter {\n  stage \"address\" {}\n}\n", "filter: {stage: {address: {}}}\n", "stage address", "to drop them"},
		{"old mode name", "sync \"persistent\" {}\n", "sync: {persistent: {}}\n", "sync alarm", "old name"},
		{"no port", "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  peer = \"192.0.2.2\"\n}\n",
			"sync: {ftfw: {}}\nlink: {a: {transport: udp, interface: lo, peer: 192.0.2.2}}\n", "port", "same port"},
	}
	for _, tt := range tests {
		for _, s := range []struct {
			syntax Syntax
			src    string
		}{{SyntaxHCL, tt.hcl}, {SyntaxYAML, tt.yaml}} {
			t.Run(tt.name+"/"+string(s.syntax), func(t *testing.T) {
				f, diags := Parse("c."+string(s.syntax), []byte(s.src), LoadOptions{Syntax: s.syntax})
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				_, vds := Validate(f, lo)
				want := exampleIn(s.syntax, tt.key)
				for _, d := range vds {
					if strings.Contains(d.Detail, tt.wantContains) {
						if !strings.Contains(d.Detail, want) {
							t.Errorf("detail %q lacks the example %q", d.Detail, want)
						}
						return
					}
				}
				t.Errorf("no diagnostic with %q: %v", tt.wantContains, vds)
			})
		}
	}
}

// TestYAMLShapeExamples: the YAML front end's hints on how a block is
// written show examples; each parses, in the place of the wrong one, to a
// block of that type.
func TestYAMLShapeExamples(t *testing.T) {
	tests := []struct {
		name    string
		src     string // %s is where the block's value goes
		wrong   string
		blocks  func(*File) int
		wantMin int
	}{
		{"unlabeled", "daemon%s\n", ": 5", func(f *File) int { return boolInt(f.Daemon != nil) }, 1},
		{"link", "link%s\n", ": [a]", func(f *File) int { return len(f.Links) }, 1},
		{"link list item", "link%s\n", ": [{transport: udp}]", func(f *File) int { return len(f.Links) }, 1},
		{"sync", "sync%s\n", ": 5", func(f *File) int { return boolInt(f.Sync != nil) }, 1},
		{"cache", "cache%s\n", ": 5", func(f *File) int { return len(f.Caches) }, 1},
		{"stage", "filter:\n  stage%s\n", ": 5", func(f *File) int { return len(f.Filter.Stages) }, 1},
		{"helper", "helpers:\n  helper%s\n", ": 5", func(f *File) int { return len(f.Helpers.Helper) }, 1},
	}
	example := regexp.MustCompile(`\(([a-z_]+)(: [^()]*)\)|: ([a-z_]+)(: \[[^()]*\])\.?$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse("c.yaml", []byte(strings.Replace(tt.src, "%s", tt.wrong, 1)), LoadOptions{})
			if len(diags) == 0 {
				t.Fatal("no diagnostic")
			}
			found := 0
			for _, m := range example.FindAllStringSubmatch(diags[0].Detail, -1) {
				value := m[2] + m[4]
				found++
				f, ds := Parse("c.yaml", []byte(strings.Replace(tt.src, "%s", value, 1)), LoadOptions{})
				for _, d := range ds {
					if d.Code == "syntax" || d.Code == "type" || d.Code == "unknown-block" || d.Code == "unknown-attribute" {
						t.Errorf("example %q: %v", value, d)
					}
				}
				if f != nil && tt.blocks(f) < tt.wantMin {
					t.Errorf("example %q gives no %s block", value, tt.name)
				}
			}
			if found == 0 {
				t.Errorf("no example in %q", diags[0].Detail)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSettingsInMessagesSpeakTheSyntax: a message that names a setting
// with its value writes it as the file does ("events_reliable = true" was
// shown to YAML and JSON files alike).
func TestSettingsInMessagesSpeakTheSyntax(t *testing.T) {
	lo := ValidateOptions{InterfaceExists: func(string) bool { return true }}
	tests := []struct {
		name, file, src, want string
	}{
		{"HCL", "c.hcl", "netlink {\n  events_reliable = true\n  overrun_resync = \"30s\"\n}\n", "with events_reliable = true"},
		{"YAML", "c.yaml", "netlink: {events_reliable: true, overrun_resync: 30s}\n", "with events_reliable: true"},
		{"JSON", "c.json", `{"netlink": {"events_reliable": true, "overrun_resync": "30s"}}`, `with "events_reliable": true`},
		{"YAML string", "c.yaml", "filter:\n  run_in: kernel\n  stage: {address: {ignore: [" + manyIPv6(21) + "]}}\n", "too many for run_in: kernel"},
		{"JSON string", "c.json", `{"filter": {"run_in": "kernel", "stage": {"address": {"ignore": [` + manyIPv6(21) + `]}}}}`, `too many for "run_in": "kernel"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := Parse(tt.file, []byte(tt.src), LoadOptions{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			_, vds := Validate(f, lo)
			for _, d := range vds {
				if strings.Contains(d.Message, tt.want) {
					return
				}
			}
			t.Errorf("no message with %q: %v", tt.want, vds)
		})
	}
}
