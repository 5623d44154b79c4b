package config

import (
	"bytes"
	"testing"
)

func TestDetectSyntax(t *testing.T) {
	tests := []struct {
		name, src string
		want      Syntax // SyntaxAuto: not detected
	}{
		// The extension decides when it says something.
		{"ctsync.hcl", "General {", SyntaxHCL},
		{"ctsync.HCL", "", SyntaxHCL},
		{"ctsync.json", "", SyntaxJSON},
		{"ctsync.yml", "", SyntaxYAML},
		{"ctsync.yaml", "", SyntaxYAML},
		{"conntrackd.conf", "sync \"ftfw\" {}", SyntaxLegacy},
		// Otherwise the first significant line.
		{"ctsync", "# comment\n\nsync \"ftfw\" {}\n", SyntaxHCL},
		{"ctsync", "daemon {\n", SyntaxHCL},
		{"ctsync", "link \"a\" \"b\" {", SyntaxHCL},
		{"ctsync", "// note\nvariable \"peer\" {}", SyntaxHCL},
		{"ctsync", "/* note */\ndaemon {}", SyntaxHCL},
		{"vars.txt", "peer = \"127.0.0.2\"", SyntaxHCL},
		{"ctsync", "General {\n\tHashSize 8192\n}", SyntaxLegacy},
		{"ctsync", "# conntrackd\nSync{\n", SyntaxLegacy},
		{"ctsync.j2", "  IgnoreProtocol {", SyntaxLegacy},
		{"<stdin>", "\xef\xbb\xbf{\"sync\": {}}", SyntaxJSON},
		{"<stdin>", "  {", SyntaxJSON},
		{"<stdin>", "sync:\n  ftfw: {}", SyntaxYAML},
		{"<stdin>", "---\nsync: {}", SyntaxYAML},
		{"<stdin>", "%YAML 1.2\n---\nsync: {}", SyntaxYAML},
		{"<stdin>", "- a", SyntaxYAML},
		{"<stdin>", "\"sync\": {}", SyntaxYAML},
		// Not enough to tell: say so rather than guess.
		{"<stdin>", "", SyntaxAuto},
		{"<stdin>", "# only a comment\n", SyntaxAuto},
		{"<stdin>", "HashSize 8192", SyntaxAuto},
		{"<stdin>", "peer == 1", SyntaxAuto},
		{"ctsync", "<xml/>", SyntaxAuto},
	}
	for _, tt := range tests {
		got, ok := DetectSyntax(tt.name, []byte(tt.src))
		if ok != (tt.want != SyntaxAuto) || got != tt.want {
			t.Errorf("DetectSyntax(%q, %q) = %s, %v; want %s", tt.name, tt.src, got, ok, tt.want)
		}
	}
}

// FuzzDetectSyntax: detection never panics, answers one of the four
// syntaxes or nothing, and looks only at the first significant line, so
// what follows it cannot change the answer (nor cost time).
func FuzzDetectSyntax(f *testing.F) {
	for _, s := range []string{"General {\n", "sync \"ftfw\" {}\n", "{}", "sync:\n", "# c\n\npeer = 1\n", "\xef\xbb\xbf---\n", ""} {
		f.Add([]byte(s), []byte("\nSync {\n"))
	}
	f.Fuzz(func(t *testing.T, src, tail []byte) {
		s, ok := DetectSyntax("<stdin>", src)
		switch s {
		case SyntaxHCL, SyntaxJSON, SyntaxYAML, SyntaxLegacy:
			if !ok {
				t.Fatalf("%s without ok", s)
			}
		case SyntaxAuto:
			if ok {
				t.Fatal("auto with ok")
			}
		default:
			t.Fatalf("unknown syntax %q", s)
		}
		if !ok || !bytes.HasSuffix(src, []byte("\n")) {
			return
		}
		// src ends a line, so its significant line is whole: more text
		// after it changes nothing.
		if s2, _ := DetectSyntax("<stdin>", append(append([]byte{}, src...), tail...)); s2 != s {
			t.Fatalf("%q then %q: %s, but %s without the tail", src, tail, s2, s)
		}
	})
}
