package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
		code string
		msg  string
	}{
		{name: "dump", in: `{"version":1,"command":"dump","cache":"external","format":"json"}`,
			want: Request{Version: 1, Command: Dump, Cache: External, Format: JSON}},
		{name: "resync from the kernel", in: ` {"command":"resync","kernel":true,"version":1} `,
			want: Request{Version: 1, Command: Resync, Kernel: true}},
		{name: "field names are exact", in: `{"Version":1,"command":"stats"}`, code: CodeMalformed, msg: `at byte 2: unknown field "Version"`},
		{name: "a field twice", in: `{"version":1,"command":"stats","command":"flush"}`, code: CodeMalformed, msg: `at byte 32: field "command" given twice`},
		{name: "no version", in: `{"command":"stats"}`, code: CodeVersion, msg: "protocol version 0 is not supported"},
		{name: "null", in: `null`, code: CodeVersion},
		{name: "format of a command without output", in: `{"version":1,"command":"bulk","format":"json"}`, code: CodeInvalid, msg: "bulk: format is only for stats, dump and ready"},
		{name: "cache of a command without one", in: `{"version":1,"command":"commit","cache":"external"}`, code: CodeInvalid, msg: "commit: cache is only for dump and flush"},
		{name: "unknown format", in: `{"version":1,"command":"stats","format":"xml"}`, code: CodeInvalid, msg: `stats: format must be "text" or "json", got "xml"`},
		{name: "dump of expectations in XML", in: `{"version":1,"command":"dump","cache":"internal","table":"expect","format":"xml"}`,
			want: Request{Version: 1, Command: Dump, Cache: Internal, Table: Expectations, Format: XML}},
		{name: "stats section", in: `{"version":1,"command":"stats","section":"rsqueue"}`, want: Request{Version: 1, Command: Stats, Section: SectionRSQueue}},
		{name: "unknown section", in: `{"version":1,"command":"stats","section":"multicast"}`, code: CodeInvalid, msg: `stats: section must be one of general, network, cache, runtime, link, rsqueue, process, queue, expect, got "multicast"`},
		{name: "section in JSON", in: `{"version":1,"command":"stats","section":"cache","format":"json"}`, code: CodeInvalid, msg: "stats: section is for text"},
		{name: "section of another command", in: `{"version":1,"command":"dump","cache":"internal","section":"cache"}`, code: CodeInvalid, msg: "dump: section is only for stats"},
		{name: "table of the peer resync", in: `{"version":1,"command":"resync","table":"ct"}`, code: CodeInvalid, msg: "resync: table is only for a resync from the kernel"},
		{name: "unknown table", in: `{"version":1,"command":"flush-kernel","table":"conntrack"}`, code: CodeInvalid, msg: `flush-kernel: table must be "ct" or "expect", got "conntrack"`},
		{name: "table of a command without one", in: `{"version":1,"command":"bulk","table":"ct"}`, code: CodeInvalid, msg: "bulk: table is only for commit, dump, resync and flush-kernel"},
		{name: "stop", in: `{"version":1,"command":"stop"}`, want: Request{Version: 1, Command: Stop}},
		{name: "unknown flush cache", in: `{"version":1,"command":"flush","cache":"all"}`, code: CodeInvalid, msg: `flush: cache must be "internal", "external" or left out for both, got "all"`},
		{name: "huge number", in: `{"version":1e400,"command":"stats"}`, code: CodeMalformed, msg: "at byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.in))
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Code != tt.code || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got %v, want %s %q", err, tt.code, tt.msg)
			}
		})
	}
}

// A request trickling in a byte at a time is read whole, and nothing after
// its newline is consumed unseen.
func TestReadRequestByteWise(t *testing.T) {
	in := `{"version":1,"command":"stats"}` + "\n"
	got, err := ReadRequest(iotest.OneByteReader(strings.NewReader(in+"x")), 0)
	if err != nil || got != (Request{Version: 1, Command: Stats}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := ReadRequest(strings.NewReader(""), 0); err != io.EOF {
		t.Errorf("empty connection: got %v, want io.EOF", err)
	}
	if _, err := ReadRequest(iotest.ErrReader(io.ErrClosedPipe), 0); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("got %v, want the reader's error", err)
	}
}

func TestAppendRequest(t *testing.T) {
	req := Request{Version: 1, Command: Flush, Cache: Internal}
	b, err := AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":1,"command":"flush","cache":"internal"}` + "\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

// FuzzDecodeRequest: any bytes give a request or a RequestError, never a
// panic; an accepted request re-encodes to one that decodes the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"command":"dump","cache":"internal","format":"text"}`,
		`{"version":1,"command":"resync","kernel":true}`,
		`{"version":1,"command":"flush"}`,
		`{"version":1,"command":"ready","format":"json"}`,
		`{"version":1,"command":"ready","format":"text"}`,
		`{"version":1,"command":"resync","wait":true}`,
		`{"version":1,"command":"resync","wait":true,"kernel":true}`,
		`{"version":2,"command":"stats"}`,
		`{"version":1,"command":"kill"}`,
		`{"version":1,"command":"stats"} {}`,
		`{"version":1,"command":"stats"}` + "\nmore",
		`{"version":"1"}`,
		"\x00\xff\xfe",
		`[`,
		`{"version":1,"command":"stats","x":1}`,
		`{"Command":"stats","version":1,"command":"flush"}`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadRequest(bytes.NewReader(append(in, '\n')), 256)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) && err != io.EOF {
				t.Fatalf("error %v is %T, want *RequestError", err, err)
			}
			if re != nil && (re.Code == "" || re.Msg == "") {
				t.Fatalf("error without code or message: %#v", re)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted %q, which does not validate: %v", in, err)
		}
		b, err := AppendRequest(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ReadRequest(bytes.NewReader(b), 256)
		if err != nil || again != req {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", in, req, b, again, err)
		}
	})
}

// FuzzTextData: every text line becomes one valid JSON line that decodes
// to the text (invalid UTF-8 replaced, as encoding/json does).
func FuzzTextData(f *testing.F) {
	for _, s := range []string{"tcp 6 ESTABLISHED", "a\"b\\c\n\t\r\x00\x1f\x7f", "é\xff\xfe€\u2028", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b := appendTextData(nil, in)
		if bytes.IndexByte(b[:len(b)-1], '\n') >= 0 || b[len(b)-1] != '\n' {
			t.Fatalf("%q framed as %q: not one line", in, b)
		}
		var l struct{ Data string }
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%q framed as %q: %v", in, b, err)
		}
		// encoding/json replaces each invalid byte with U+FFFD
		// (strings.ToValidUTF8 would replace a run with one).
		var w strings.Builder
		for i := 0; i < len(in); {
			r, n := utf8.DecodeRune(in[i:])
			w.WriteRune(r)
			i += n
		}
		if want := w.String(); l.Data != want {
			t.Fatalf("%q decodes to %q, want %q", in, l.Data, want)
		}
	})
}

// JSON data lines are compacted onto one line, and a handler's invalid
// JSON is an error, not a broken response.
func TestJSONData(t *testing.T) {
	b, err := appendJSONData(nil, []byte("{\n  \"a\": [1,\n 2]\r\n}"))
	if err != nil || string(b) != `{"data":{"a":[1,2]}}`+"\n" {
		t.Errorf("got %q, %v", b, err)
	}
	if b, err := appendJSONData([]byte("x"), []byte(`{"a":`)); err == nil || string(b) != "x" {
		t.Errorf("got %q, %v; want an error and the buffer as it was", b, err)
	}
}

// Every code a client may see is documented for scripts that match on it.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/control.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{CodeMalformed, CodeTooLarge, CodeTimeout, CodeVersion, CodeUnknown, CodeInvalid, CodeBusy, CodeFailed, CodeUnavailable} {
		if !strings.Contains(string(doc), "| `"+c+"` |") {
			t.Errorf("code %q is not in docs/control.md", c)
		}
	}
	for _, c := range commands {
		if !strings.Contains(string(doc), "`"+string(c)+"`") {
			t.Errorf("command %q is not in docs/control.md", c)
		}
	}
}
