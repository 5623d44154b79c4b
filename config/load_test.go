package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The configuration every variable test loads: two declared variables,
// one with a default.
const varsHCL = `variable "peer" {}
variable "port" {
  default = 3780
}

sync "ftfw" {}

link "primary" {
  transport = "udp"
  interface = "lo"
  local     = "127.0.0.1"
  peer      = var.peer
  port      = var.port
}
`

func TestVariables(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writeFile("good.hcl", "peer = \"127.0.0.2\"\n")
	typo := writeFile("typo.hcl", "peer = \"127.0.0.2\"\nprot = 4000\n")
	typoJSON := writeFile("typo.json", "{\n  \"peer\": \"127.0.0.2\",\n  \"pear\": \"x\"\n}\n")
	typoYAML := writeFile("typo.yaml", "peer: 127.0.0.2\nprot: 1\n")
	missing := filepath.Join(dir, "missing.hcl")

	tests := []struct {
		name string
		src  string // default varsHCL
		opts LoadOptions
		// want lists the diagnostics, as "code file:line:col: severity: message; detail"
		// with file shortened to its base name; empty means none.
		want []string
	}{
		{name: "set by -var", opts: LoadOptions{Vars: []string{"peer=127.0.0.2"}}},
		{name: "set by -var-file", opts: LoadOptions{VarFiles: []string{good}}},
		{name: "set by environment", opts: LoadOptions{Environ: []string{"CTSYNC_VAR_peer=127.0.0.2"}}},
		{name: "undeclared -var", opts: LoadOptions{Vars: []string{"peer=127.0.0.2", "prot=4000"}},
			want: []string{`variable c.hcl: error: -var "prot=4000" sets undeclared variable "prot"; did you mean "port"?`}},
		{name: "undeclared -var, nothing near", opts: LoadOptions{Vars: []string{"peer=127.0.0.2", "zone=x"}},
			want: []string{`variable c.hcl: error: -var "zone=x" sets undeclared variable "zone"; declare it with variable "zone" {}`}},
		{name: "undeclared in HCL -var-file", opts: LoadOptions{VarFiles: []string{typo}},
			want: []string{`variable typo.hcl:2:1: error: -var-file sets undeclared variable "prot"; did you mean "port"?`}},
		{name: "undeclared in JSON -var-file", opts: LoadOptions{VarFiles: []string{typoJSON}},
			want: []string{`variable typo.json:3:3: error: -var-file sets undeclared variable "pear"; did you mean "peer"?`}},
		{name: "undeclared in YAML -var-file", opts: LoadOptions{VarFiles: []string{typoYAML}},
			want: []string{`variable typo.yaml:2:1: error: -var-file sets undeclared variable "prot"; did you mean "port"?`}},
		{name: "undeclared in environment is a warning",
			opts: LoadOptions{Environ: []string{"CTSYNC_VAR_peer=127.0.0.2", "CTSYNC_VAR_peerr=x", "OTHER=1"}},
			want: []string{`variable c.hcl: warning: environment variable CTSYNC_VAR_peerr sets undeclared variable "peerr"; did you mean "peer"?`}},
		{name: "malformed -var is a usage error", opts: LoadOptions{Vars: []string{"peer"}},
			want: []string{
				`usage c.hcl: error: -var "peer": want NAME=VALUE with a valid name`,
				`variable c.hcl:1:1: error: variable "peer" has no value; set it with -var peer=VALUE, a -var-file, or CTSYNC_VAR_peer`,
			}},
		{name: "missing -var-file is an I/O error", opts: LoadOptions{Vars: []string{"peer=127.0.0.2"}, VarFiles: []string{missing}},
			want: []string{`io missing.hcl: error: -var-file: open ` + missing + `: no such file or directory`}},
		{name: "reference to an undeclared variable",
			src:  strings.Replace(varsHCL, "var.peer", "var.pear", 1),
			opts: LoadOptions{Vars: []string{"peer=127.0.0.2"}},
			want: []string{`variable c.hcl:12:18: error: undeclared variable "pear"; did you mean "peer"?`}},
		{name: "reference with no variable declared",
			src:  "daemon {\n  lock_file = var.lock\n}\n",
			want: []string{`variable c.hcl:2:18: error: undeclared variable "lock"; declare it with variable "lock" {}`}},
		{name: "reference in HCL JSON", src: "",
			opts: LoadOptions{Syntax: SyntaxJSON},
			want: []string{`variable c.hcl:1:32: error: undeclared variable "lok"; declare it with "variable": {"lok": {}}`}},
		{name: "-var on HCL JSON", src: `{"daemon": {"lock_file": "/x"}}`,
			opts: LoadOptions{Syntax: SyntaxJSON, Vars: []string{"zone=x"}},
			want: []string{`variable c.hcl: error: -var "zone=x" sets undeclared variable "zone"; declare it with "variable": {"zone": {}}`}},
		{name: "-var on YAML", src: "daemon:\n  lock_file: /x\n",
			opts: LoadOptions{Syntax: SyntaxYAML, Vars: []string{"zone=x"}},
			want: []string{`variable c.hcl: error: -var "zone=x" sets undeclared variable "zone"; YAML values are literal: -var, -var-file and CTSYNC_VAR_NAME set the variables of HCL and HCL JSON files`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" && tt.opts.Syntax == SyntaxJSON {
				src = `{"daemon": {"lock_file": "${var.lok}"}}`
			} else if src == "" {
				src = varsHCL
			}
			_, diags := Parse("c.hcl", []byte(src), tt.opts)
			var got []string
			for _, d := range diags {
				d.Pos.File = filepath.Base(d.Pos.File)
				got = append(got, d.Code+" "+d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseUndetectable(t *testing.T) {
	_, diags := Parse("<stdin>", []byte("HashSize 1\n"), LoadOptions{})
	if got := diags.Error(); got != "<stdin>: error: cannot tell the syntax from the file name or its content" {
		t.Errorf("got %q", got)
	}
}
