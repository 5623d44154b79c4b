package config

import (
	"strings"
	"testing"
)

// TestExamplesParse: every example a message shows is valid input in its
// syntax, so that pasting it works.
func TestExamplesParse(t *testing.T) {
	for key, e := range examples {
		for _, tt := range []struct {
			syntax Syntax
			text   string
		}{{SyntaxHCL, e.hcl}, {SyntaxJSON, e.json}, {SyntaxYAML, e.yaml}} {
			src := tt.text
			switch {
			case e.scope == inLink && tt.syntax == SyntaxHCL:
				src = "link \"x\" {\n  transport = \"udp\"\n  " + src + "\n}\n"
			case e.scope == inLink && tt.syntax == SyntaxJSON:
				src = `{"link": {"x": {"transport": "udp", ` + src + "}}}"
			case e.scope == inLink && tt.syntax == SyntaxYAML:
				src = "link: {x: {transport: udp, " + src + "}}\n"
			case tt.syntax == SyntaxJSON:
				src = "{" + src + "}"
			}
			t.Run(key+"/"+string(tt.syntax), func(t *testing.T) {
				if strings.ContainsAny(tt.text, "\n") {
					t.Errorf("example %q spans lines; a detail is one line", tt.text)
				}
				f, diags := Parse("example."+string(tt.syntax), []byte(src), LoadOptions{Syntax: tt.syntax})
				if diags.HasErrors() {
					t.Fatalf("example %q does not parse:\n%s\n%v", tt.text, src, diags)
				}
				if e.scope == inLink && len(f.Links) != 1 || e.scope == atTop && f.Sync == nil && len(f.Links) == 0 {
					t.Errorf("example %q decodes to nothing: %+v", tt.text, f)
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
