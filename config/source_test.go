package config

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// TestDiagnosticSnippet: a diagnostic carries where it ends and the source
// line it is about, highlighted, in every syntax, as terraform's -json does.
func TestDiagnosticSnippet(t *testing.T) {
	lo := ValidateOptions{InterfaceExists: func(string) bool { return true }}
	tests := []struct {
		name, file, src string
		code            string
		wantEnd         Pos // line and column
		wantSnippet     Snippet
	}{
		{"hcl, validation", "c.hcl", "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  peer = \"192.0.2.2\"\n  port = 70000\n}\n",
			"range", Pos{Line: 6, Column: 15}, Snippet{Code: "  port = 70000", StartLine: 6, HighlightStartOffset: 9, HighlightEndOffset: 14}},
		{"hcl, quoted value", "c.hcl", "link \"a\" {\n  transport = \"upd\"\n}\n",
			"enum", Pos{Line: 2, Column: 20}, Snippet{Code: "  transport = \"upd\"", StartLine: 2, HighlightStartOffset: 14, HighlightEndOffset: 19}},
		{"hcl, decoding", "c.hcl", "daemon {\n  lock_fil = \"/x\"\n}\n",
			"unknown-attribute", Pos{Line: 2, Column: 11}, Snippet{Code: "  lock_fil = \"/x\"", StartLine: 2, HighlightStartOffset: 2, HighlightEndOffset: 10}},
		{"json", "c.json", "{\"sync\": {\"ftfw\": {}}, \"link\": {\"a\": {\"transport\": \"udp\", \"interface\": \"lo\",\n  \"peer\": \"192.0.2.2\", \"port\": 70000}}}\n",
			"range", Pos{Line: 2, Column: 37}, Snippet{Code: "  \"peer\": \"192.0.2.2\", \"port\": 70000}}}", StartLine: 2, HighlightStartOffset: 31, HighlightEndOffset: 36}},
		{"yaml, value", "c.yaml", "sync: {ftfw: {}}\nlink:\n  a:\n    transport: udp\n    interface: lo\n    peer: 192.0.2.2\n    port: 70000\n",
			"range", Pos{Line: 7, Column: 16}, Snippet{Code: "    port: 70000", StartLine: 7, HighlightStartOffset: 10, HighlightEndOffset: 15}},
		{"yaml, key", "c.yaml", "daemon:\n  lock_fil: /x\n",
			"unknown-attribute", Pos{Line: 2, Column: 11}, Snippet{Code: "  lock_fil: /x", StartLine: 2, HighlightStartOffset: 2, HighlightEndOffset: 10}},
		{"yaml, syntax error: the token", "c.yaml", "daemon:\n  lock_file: [/x\n",
			"syntax", Pos{Line: 2, Column: 12}, Snippet{Code: "  lock_file: [/x", StartLine: 2, HighlightStartOffset: 2, HighlightEndOffset: 11}},
		{"CRLF", "c.hcl", "daemon {\r\n  lock_fil = \"/x\"\r\n}\r\n",
			"unknown-attribute", Pos{Line: 2, Column: 11}, Snippet{Code: "  lock_fil = \"/x\"", StartLine: 2, HighlightStartOffset: 2, HighlightEndOffset: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := Parse(tt.file, []byte(tt.src), LoadOptions{})
			if !diags.HasErrors() {
				_, vds := Validate(f, lo)
				diags = append(diags, vds...)
			}
			var d Diagnostic
			for _, x := range diags {
				if x.Code == tt.code {
					d = x
					break
				}
			}
			if d.Code == "" {
				t.Fatalf("want a %s diagnostic, got %v", tt.code, diags)
			}
			if d.End.Line != tt.wantEnd.Line || d.End.Column != tt.wantEnd.Column {
				t.Errorf("%v ends at %d:%d, want %d:%d", d, d.End.Line, d.End.Column, tt.wantEnd.Line, tt.wantEnd.Column)
			}
			if d.Snippet == nil {
				t.Fatalf("%v has no snippet", d)
			}
			if diff := cmp.Diff(tt.wantSnippet, *d.Snippet); diff != "" {
				t.Errorf("snippet (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSnippetBounded: a huge line is quoted as a bounded window that
// still shows the position.
func TestSnippetBounded(t *testing.T) {
	pad := strings.Repeat("x", 10<<20)
	src := "daemon {\n  lock_file = \"" + pad + "\"\n  colour = \"é" + strings.Repeat("é", 300) + "\" lock_fil = 1\n}\n"
	ds := Diagnostics{
		{Pos: Pos{File: "c.hcl", Line: 2, Column: 3}, Code: "a"},
		{Pos: Pos{File: "c.hcl", Line: 2, Column: 5 << 20}, Code: "b"},
		{Pos: Pos{File: "c.hcl", Line: 3, Column: 12 + 2*150}, Code: "c"},
		{Pos: Pos{File: "c.hcl", Line: 9, Column: 1}, Code: "beyond the end"},
		{Pos: Pos{File: "other.hcl", Line: 1, Column: 1}, Code: "another file"},
	}
	ds.AttachSource(&Source{Name: "c.hcl", Text: []byte(src)})
	for _, d := range ds[:3] {
		s := d.Snippet
		if s == nil {
			t.Fatalf("%s: no snippet", d.Code)
		}
		if len(s.Code) > maxSnippet || !utf8.ValidString(s.Code) {
			t.Errorf("%s: snippet of %d bytes", d.Code, len(s.Code))
		}
		if s.HighlightStartOffset < 0 || s.HighlightStartOffset > s.HighlightEndOffset || s.HighlightEndOffset > len(s.Code) {
			t.Errorf("%s: highlight %d..%d in %d bytes", d.Code, s.HighlightStartOffset, s.HighlightEndOffset, len(s.Code))
		}
		if !strings.Contains(src, s.Code) {
			t.Errorf("%s: snippet %q is not from the source", d.Code, s.Code)
		}
	}
	if got := ds[0].Snippet.Code; !strings.HasPrefix(got, "  lock_file = \"xxx") {
		t.Errorf("snippet of the start of a long line: %q", got)
	}
	if ds[3].Snippet != nil || ds[4].Snippet != nil {
		t.Errorf("snippet for a line beyond the end or another file: %+v %+v", ds[3].Snippet, ds[4].Snippet)
	}
}

// TestDiagnosticJSON: the JSON form keeps every field of schema 1 and adds
// the end and the snippet, which are left out when unknown.
func TestDiagnosticJSON(t *testing.T) {
	d := Diagnostic{Pos: Pos{File: "c.hcl", Line: 6, Column: 10}, End: Pos{File: "c.hcl", Line: 6, Column: 15},
		Severity: Error, Code: "range", Message: "port 70000 is out of range", Detail: "want 1 to 65535",
		Snippet: &Snippet{Code: "  port = 70000", StartLine: 6, HighlightStartOffset: 9, HighlightEndOffset: 14}}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"file":"c.hcl","line":6,"column":10,"end_line":6,"end_column":15,"severity":"error","code":"range",` +
		`"message":"port 70000 is out of range","detail":"want 1 to 65535",` +
		`"snippet":{"code":"  port = 70000","start_line":6,"highlight_start_offset":9,"highlight_end_offset":14}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	d.End, d.Snippet = Pos{}, nil
	got, _ = json.Marshal(d)
	if want := `{"file":"c.hcl","line":6,"column":10,"severity":"error","code":"range","message":"port 70000 is out of range","detail":"want 1 to 65535"}`; string(got) != want {
		t.Errorf("without end and snippet:\ngot  %s\nwant %s", got, want)
	}
}
