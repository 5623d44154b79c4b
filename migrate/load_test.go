package migrate

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
)

// TestLoad checks the one pipeline behind validate, export and migrate:
// each syntax reaches validation, and a legacy file's model errors are
// judged as the caller asks (start-up warnings as conntrackd, errors for
// migrate, errors again with Strict).
func TestLoad(t *testing.T) {
	const noInterface = "Sync {\n\tMode FTFW { }\n\tUDP {\n\t\tIPv4_address 127.0.0.1\n\t\tIPv4_Destination_Address 127.0.0.2\n\t\tPort 3780\n\t}\n}\n"
	const hclBadPort = "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  peer = \"127.0.0.2\"\n  port = 70000\n}\n"
	lo := func(n string) bool { return n == "lo" }
	tests := []struct {
		name, file, src string
		opts            LoadOptions
		syntax          config.Syntax
		// want is each diagnostic as "severity code line:col"; the model
		// is decoded (File set) unless noFile.
		want   []string
		noFile bool
	}{
		{name: "HCL, validated", file: "c.hcl", src: hclBadPort,
			syntax: config.SyntaxHCL, want: []string{"error range 6:10"}},
		{name: "HCL detected from content", file: "c", src: hclBadPort,
			syntax: config.SyntaxHCL, want: []string{"error range 6:10"}},
		{name: "YAML", file: "c.yaml", src: "sync:\n  ftfw: {}\nlink:\n  a:\n    transport: udp\n    interface: lo\n    peer: 127.0.0.2\n    port: 3780\n",
			syntax: config.SyntaxYAML},
		{name: "HCL syntax error stops before validation", file: "c.hcl", src: "sync \"ftfw\" {\n",
			syntax: config.SyntaxHCL, want: []string{"error syntax 1:13"}, noFile: true},
		{name: "legacy as conntrackd: model errors are warnings", file: "c.conf", src: noInterface,
			opts:   LoadOptions{Dialect: Dialect147, AsConntrackd: true},
			syntax: config.SyntaxLegacy, want: []string{"warning missing-attribute 3:2"}},
		{name: "legacy as conntrackd, strict", file: "c.conf", src: noInterface,
			opts:   LoadOptions{Dialect: Dialect147, AsConntrackd: true, Strict: true},
			syntax: config.SyntaxLegacy, want: []string{"error missing-attribute 3:2"}},
		{name: "legacy for migrate: model errors stay errors", file: "c.conf", src: noInterface,
			opts:   LoadOptions{Dialect: DialectLenient},
			syntax: config.SyntaxLegacy, want: []string{"error missing-attribute 3:2"}},
		{name: "legacy parse error stops", file: "c.conf", src: "General {\n\thashsize 1\n}\n",
			opts:   LoadOptions{Dialect: Dialect147, AsConntrackd: true},
			syntax: config.SyntaxLegacy, want: []string{"error unknown-keyword 2:2"}, noFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.InterfaceExists = lo
			l := Load(tt.file, []byte(tt.src), opts)
			if l.Syntax != tt.syntax {
				t.Errorf("syntax %s, want %s", l.Syntax, tt.syntax)
			}
			var got []string
			for _, d := range l.Diags {
				got = append(got, d.Severity.String()+" "+d.Code+" "+strings.TrimPrefix(d.Pos.String(), tt.file+":"))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s\n(%v)", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), l.Diags)
			}
			if (l.File == nil) != tt.noFile {
				t.Errorf("File = %v, want nil: %v", l.File, tt.noFile)
			}
		})
	}
}
