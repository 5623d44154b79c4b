package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzHCLValidate: HCL native text through the whole front end (parse,
// variables, dynamic blocks, decode, validate) never panics, and every
// diagnostic about the file is located in it.
func FuzzHCLValidate(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.hcl")
	more, _ := filepath.Glob("testdata/write/*.hcl")
	for _, s := range append(seeds, more...) {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("link \"a\" {\n  transport = \"udp\"\n  port = 70000\n}\n"))
	f.Add([]byte("variable \"x\" { default = [\"tcp\"] }\nfilter {\n  stage \"protocol\" { accept = var.x }\n}\n"))
	f.Add([]byte("dynamic \"link\" {\n  for_each = [1, 2]\n  labels = [\"l${link.key}\"]\n  content { transport = \"tcp\" }\n}\n"))
	f.Add([]byte("filter {\n  stage \"protocol\" { ignore = [\"ip\", \"mptcp\", \"IPSEC-ESP\", \"Icmpv6\", \"255\", \"tpc\"] }\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) { checkFrontEnd(t, "f.hcl", src, SyntaxHCL) })
}

// FuzzJSONValidate is FuzzHCLValidate for HCL's JSON syntax, whose strings
// are templates parsed by hclsyntax (so as deep as HCL's own nesting).
// Seeds in testdata/fuzz/FuzzJSONValidate include the 100,000-deep array
// that overflowed the stack.
func FuzzJSONValidate(f *testing.F) {
	f.Add([]byte(`{"daemon": {"lock_file": "/var/lock/ct.lock"}, "link": {"a": {"transport": "udp", "port": 70000}}}`))
	f.Add([]byte(`{"variable": {"x": {"default": ["tcp"]}}, "filter": {"stage": {"protocol": {"accept": "${var.x}"}}}}`))
	f.Fuzz(func(t *testing.T, src []byte) { checkFrontEnd(t, "f.json", src, SyntaxJSON) })
}

// checkFrontEnd runs src through Parse and Validate and fails on a
// diagnostic without code, message or, when it is about the file, line.
func checkFrontEnd(t *testing.T, name string, src []byte, syntax Syntax) {
	file, diags := Parse(name, src, LoadOptions{Syntax: syntax})
	if !diags.HasErrors() {
		_, vds := Validate(file, ValidateOptions{InterfaceExists: func(n string) bool { return n == "lo" }})
		diags = append(diags, vds...)
	}
	for _, d := range diags {
		if d.Code == "" || d.Message == "" {
			t.Fatalf("diagnostic without code or message: %#v", d)
		}
		if d.Pos.File == name && d.Pos.Line <= 0 {
			t.Fatalf("diagnostic without a line: %#v", d)
		}
	}
}
