package config

import (
	"strings"
	"testing"
)

func TestCheckNesting(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	many := strings.Repeat("[", 2*MaxNesting)
	tests := []struct {
		name   string
		syntax Syntax
		src    string
		code   string // "" when accepted
		at     string // line:col of the error
	}{
		{"hcl at the limit", SyntaxHCL, "a = " + deep(MaxNesting) + "\n", "", ""},
		{"hcl one too deep", SyntaxHCL, "a = " + deep(MaxNesting+1) + "\n", "too-deep", "1:105"},
		{"hcl blocks count", SyntaxHCL, "a {\n" + strings.Repeat("b {\n", MaxNesting) + "}\n", "too-deep", "101:3"},
		{"hcl interpolations count", SyntaxHCL, "a = \"" + strings.Repeat("${\"", MaxNesting) + "\"\n", "too-deep", "1:155"},
		{"hcl brackets in a string", SyntaxHCL, "a = \"" + many + "\"\n", "", ""},
		{"hcl escaped interpolation", SyntaxHCL, "a = \"" + strings.Repeat("$${", 2*MaxNesting) + "\"\n", "", ""},
		{"hcl brackets in comments", SyntaxHCL, "# " + many + "\n// " + many + "\n/* " + many + " */\na = 1\n", "", ""},
		{"hcl brackets in a heredoc", SyntaxHCL, "a = <<EOT\n" + many + "\nEOT\nb = " + deep(3) + "\n", "", ""},
		{"hcl interpolation in a heredoc", SyntaxHCL, "a = <<-EOT\n  " + strings.Repeat("${[", MaxNesting) + "\n  EOT\n", "too-deep", "2:152"},
		{"hcl unary chain", SyntaxHCL, "a = " + strings.Repeat("!", MaxOperators+1) + "true\n", "too-complex", "1:10005"},
		{"hcl negation chain", SyntaxHCL, "a = " + strings.Repeat("-", MaxOperators+1) + "1\n", "too-complex", "1:10005"},
		{"hcl binary chain", SyntaxHCL, "a = " + strings.Repeat("1+", MaxOperators+1) + "1\n", "too-complex", "1:20006"},
		{"hcl statements counted apart", SyntaxHCL, strings.Repeat("a = 1+1+1+1+1\n", MaxOperators), "", ""},
		{"hcl statements in a block counted apart", SyntaxHCL, "b {\n" + strings.Repeat("a = -1\n", MaxOperators+1) + "}\n", "", ""},
		{"hcl a chain across lines in parentheses", SyntaxHCL, "a = (" + strings.Repeat("1+\n", MaxOperators+1) + "1)\n", "too-complex", "10001:2"},
		{"hcl dashes in names and exponents", SyntaxHCL, "a = [" + strings.Repeat("foo-bar-baz, 1e-5, ", MaxOperators) + "]\n", "", ""},
		{"json at the limit", SyntaxJSON, deep(MaxNesting), "", ""},
		{"json one too deep", SyntaxJSON, "\n" + deep(MaxNesting+1), "too-deep", "2:101"},
		{"json brackets in a string", SyntaxJSON, "{\"a\": \"" + many + "\"}", "", ""},
		{"json template too deep", SyntaxJSON, "{\"a\": \"${" + deep(MaxNesting) + "}\"}", "too-deep", "1:108"},
		{"json template chain", SyntaxJSON, "{\"a\": \"${" + strings.Repeat("!", MaxOperators+1) + "true}\"}", "too-complex", "1:10010"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := checkNesting("f", []byte(tt.src), tt.syntax)
			if tt.code == "" {
				if ds != nil {
					t.Fatalf("refused: %v", ds)
				}
				return
			}
			if len(ds) != 1 || ds[0].Code != tt.code {
				t.Fatalf("got %v, want one %s", ds, tt.code)
			}
			if got := strings.TrimPrefix(ds[0].Pos.String(), "f:"); got != tt.at {
				t.Errorf("at %s, want %s", got, tt.at)
			}
		})
	}
}

// TestParseRefusesDeepInput: every front end refuses what would overflow
// the stack (100,000 levels took 1.1 GB before a fatal stack overflow)
// with one located error, never a crash.
func TestParseRefusesDeepInput(t *testing.T) {
	const n = 100000
	open, close := strings.Repeat("[", n), strings.Repeat("]", n)
	tests := []struct {
		file, src, code string
	}{
		{"f.hcl", "daemon {\n  lock_file = " + open + close + "\n}\n", "too-deep"},
		{"f.hcl", "daemon {\n  lock_file = " + strings.Repeat("!", n) + "true\n}\n", "too-complex"},
		{"f.json", `{"daemon": {"lock_file": ` + open + close + "}}", "too-deep"},
		{"f.json", `{"daemon": {"lock_file": "${` + open + close + `}"}}`, "too-deep"},
		{"f.yaml", "daemon:\n  lock_file: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", "too-deep"},
		{"f.yaml", "daemon:\n  lock_file: " + open + close + "\n", "syntax"}, // yaml.v3's own limit
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.code, func(t *testing.T) {
			_, ds := Parse(tt.file, []byte(tt.src), LoadOptions{})
			if len(ds) != 1 || ds[0].Code != tt.code || ds[0].Pos.Line < 1 {
				t.Fatalf("got %v, want one located %s", ds, tt.code)
			}
		})
	}
}
