package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func yptr[T any](v T) *T { return &v }

// decodeYAML reads src the way Parse does: structural errors stop before
// decoding.
func decodeYAML(src string) (*File, Diagnostics) {
	body, diags := ParseYAML("c.yaml", []byte(src))
	if diags.HasErrors() {
		return nil, diags
	}
	f := File{Syntax: SyntaxYAML}
	diags = append(diags, decodeBody(body, nil, &f)...)
	return &f, diags
}

func decodeHCL(t *testing.T, name, src string) (*File, Diagnostics) {
	t.Helper()
	hf, hds := hclsyntax.ParseConfig([]byte(src), name, hcl.InitialPos)
	if hds.HasErrors() {
		t.Fatalf("HCL does not parse: %v", hds)
	}
	var f File
	return &f, decodeBody(hf.Body, nil, &f)
}

// ignoreSyntax leaves out what cmp cannot or should not compare: source
// ranges, variable defaults (expressions) and the syntax a file was read in.
var ignoreSyntax = cmp.Options{cmpopts.IgnoreTypes(Node{}), cmpopts.IgnoreFields(Variable{}, "Default"), cmpopts.IgnoreFields(File{}, "Syntax", "Source"), cmpopts.EquateEmpty()}

func TestYAMLDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want *File
	}{
		{"empty", "", &File{}},
		{"only comments", "# nothing yet\n", &File{}},
		{"null document", "---\n~\n", &File{}},
		{"empty mapping", "{}\n", &File{}},
		{
			"labels as keys, in order",
			"link:\n  b: {transport: udp}\n  a:\n    transport: tcp\n    port: 3780\n",
			&File{Links: []Link{{Name: "b", Transport: "udp"}, {Name: "a", Transport: "tcp", Port: yptr(int64(3780))}}},
		},
		{
			"labels as list keys",
			"link:\n  - name: b\n    transport: udp\n  - {transport: tcp, name: a}\n",
			&File{Links: []Link{{Name: "b", Transport: "udp"}, {Name: "a", Transport: "tcp"}}},
		},
		{
			"one labeled block as a mapping with its label key",
			"sync: {mode: alarm, refresh_time: 5s}\n",
			&File{Sync: &Sync{Mode: "alarm", RefreshTime: yptr("5s")}},
		},
		{
			"a block whose label is the label key's name",
			"link:\n  name: {transport: udp}\n",
			&File{Links: []Link{{Name: "name", Transport: "udp"}}},
		},
		{
			"list form with several labels",
			"helpers:\n  helper:\n    - {name: rpc, family: inet, protocol: tcp}\n    - {name: rpc, family: inet, protocol: udp}\n",
			&File{Helpers: &Helpers{Helper: []Helper{
				{Name: "rpc", Family: "inet", Protocol: "tcp"},
				{Name: "rpc", Family: "inet", Protocol: "udp"},
			}}},
		},
		{
			"nested labeled blocks, keyed, several labels",
			"helpers:\n  helper:\n    ftp:\n      inet:\n        tcp:\n          policy: {ftp: {expect_max: 1}}\n",
			&File{Helpers: &Helpers{Helper: []Helper{{Name: "ftp", Family: "inet", Protocol: "tcp",
				Policies: []HelperPolicy{{Name: "ftp", ExpectMax: yptr(int64(1))}}}}}},
		},
		{
			"keyed by name, the other labels as keys",
			"helpers:\n  helper:\n    ftp: {family: inet, protocol: tcp, queue_num: 2}\n    rpc:\n      inet:\n        protocol: udp\n",
			&File{Helpers: &Helpers{Helper: []Helper{{Name: "ftp", Family: "inet", Protocol: "tcp", QueueNum: yptr(int64(2))},
				{Name: "rpc", Family: "inet", Protocol: "udp"}}}},
		},
		{"empty block", "stats:\n", &File{Stats: &Stats{}}},
		{"empty labeled block", "cache:\n  internal:\n", &File{Caches: []Cache{{Tier: "internal"}}}},
		{"no labeled blocks", "link: []\ncache:\n", &File{}},
		{
			"YAML 1.2 integers",
			"cache:\n  a: {size: 012}\n  b: {size: 0o17}\n  c: {size: 0x1F}\n  d: {size: 1_000}\n  e: {size: -3}\n",
			&File{Caches: []Cache{
				{Tier: "a", Size: yptr(int64(12))}, {Tier: "b", Size: yptr(int64(15))}, {Tier: "c", Size: yptr(int64(31))},
				{Tier: "d", Size: yptr(int64(1000))}, {Tier: "e", Size: yptr(int64(-3))},
			}},
		},
		{
			"numbers and booleans where strings are wanted",
			"daemon:\n  poll_interval: 10\n  lock_file: true\n",
			&File{Daemon: &Daemon{PollInterval: yptr("10"), LockFile: yptr("true")}},
		},
		{
			"quoted strings stay strings",
			"netlink: {overrun_resync: \"off\"}\nlog: {syslog: 'on'}\n",
			&File{Netlink: &Netlink{OverrunResync: yptr("off")}, Log: &Log{Syslog: yptr("on")}},
		},
		{"!!str number", "link: {a: {transport: udp, port: !!str 80}}\n", &File{Links: []Link{{Name: "a", Transport: "udp", Port: yptr(int64(80))}}}},
		{"null attribute", "link:\n  a:\n    transport: udp\n    port: ~\n    peer:\n", &File{Links: []Link{{Name: "a", Transport: "udp"}}}},
		{"True is a boolean", "daemon: {systemd: True}\n", &File{Daemon: &Daemon{Systemd: yptr(true)}}},
		{
			"aliases",
			"filter:\n  stage:\n    protocol: {accept: &p [tcp, udp]}\n    tcp_state: {accept: *p}\nlink:\n  a: &l {transport: udp}\n  b: *l\n",
			&File{
				Filter: &Filter{Stages: []Stage{{Kind: "protocol", Accept: []string{"tcp", "udp"}}, {Kind: "tcp_state", Accept: []string{"tcp", "udp"}}}},
				Links:  []Link{{Name: "a", Transport: "udp"}, {Name: "b", Transport: "udp"}},
			},
		},
		{
			"variables",
			"variable:\n  iface: {default: eth0, description: sync interface}\n",
			&File{Variables: []Variable{{Name: "iface", Description: yptr("sync interface")}}},
		},
		{"byte order mark", "\ufeffcontrol: {path: /run/x}\n", &File{Control: &Control{Path: yptr("/run/x")}}},
		{"CRLF", "control:\r\n  path: /run/x\r\n", &File{Control: &Control{Path: yptr("/run/x")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := decodeYAML(tt.src)
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%v", diags)
			}
			if diff := cmp.Diff(tt.want, got, ignoreSyntax); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestYAMLVariableDefault(t *testing.T) {
	got, diags := decodeYAML("variable:\n  - name: ports\n    default: [1, two]\n")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	v, hds := got.Variables[0].Default.Value(nil)
	if hds.HasErrors() {
		t.Fatal(hds)
	}
	if want := `cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("two")})`; v.GoString() != want {
		t.Errorf("default = %s, want %s", v.GoString(), want)
	}
}

// diagLine is the part of a diagnostic the error table pins down.
func diagLine(d Diagnostic) string {
	return fmt.Sprintf("%s %d:%d %s", d.Code, d.Pos.Line, d.Pos.Column, d.Message)
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   []string // code line:col message
		detail string   // in the first diagnostic's detail
	}{
		{
			"unknown attribute", "daemon:\n  lock_fil: /x\n",
			[]string{`unknown-attribute 2:3 unsupported key "lock_fil"`}, `did you mean "lock_file"?`,
		},
		{
			"unknown block", "deamon: {systemd: true}\n",
			[]string{`unknown-block 1:1 unsupported key "deamon"`}, `did you mean "daemon"?`,
		},
		{
			"unknown key without suggestion", "daemon:\n  colour: blue\n",
			[]string{`unknown-attribute 2:3 unsupported key "colour"`}, `no setting of that name belongs here`,
		},
		{
			"yes is not a boolean", "daemon:\n  systemd: yes\n",
			[]string{`type 2:12 daemon: systemd: a boolean (true or false) is required, got "yes"`}, "",
		},
		{
			"missing required attribute, keyed", "link:\n  a:\n    port: 1\n",
			[]string{"missing-attribute 2:3 missing required key"}, `the key "transport" is required`,
		},
		{
			"missing required attribute, listed", "link:\n  - name: a\n    port: 1\n",
			[]string{"missing-attribute 2:5 missing required key"}, "",
		},
		{
			"duplicate key", "daemon:\n  systemd: true\n  systemd: false\n",
			[]string{`duplicate 3:3 duplicate key "systemd"`}, "already set at c.yaml:2:3",
		},
		{
			"duplicate label key", "link:\n  a: {transport: udp}\n  a: {transport: tcp}\n",
			[]string{`duplicate 3:3 duplicate key "a"`}, "",
		},
		{
			"duplicate unlabeled block", "daemon: [{}, {systemd: true}]\n",
			[]string{"duplicate 1:14 duplicate daemon block"}, "",
		},
		{
			"block given a string", "daemon: fast\n",
			[]string{`type 1:9 unsuitable value type for block "daemon"`}, `got the string "fast"`,
		},
		{
			"labeled block given a list of strings", "link: [a, b]\n",
			[]string{`type 1:8 unsuitable value type for block "link"`, `type 1:11 unsuitable value type for block "link"`}, `a "name" key`,
		},
		{
			"labeled block body given a string", "link:\n  a: udp\n",
			[]string{`type 2:6 unsuitable value type for block "link"`}, `link "a" is written as a mapping of its settings`,
		},
		{
			"label missing in list form", "link:\n  - transport: udp\n",
			[]string{"syntax 2:5 missing name for link"}, `each link needs a "name" key`,
		},
		{
			"label not a string", "sync:\n  - mode: [ftfw]\n",
			[]string{"type 2:11 unsuitable value type for sync mode"}, "got a list",
		},
		{
			"attribute given a mapping", "daemon:\n  lock_file: {path: /x}\n",
			[]string{"type 2:14 daemon: lock_file: a string is required, got a mapping"}, "",
		},
		{
			"list element null", "filter: {stage: {protocol: {accept: [tcp, ~]}}}\n",
			[]string{`type 1:37 filter: stage "protocol": accept: list elements must not be null`}, "",
		},
		{
			"required attribute null", "link:\n  a:\n    transport:\n",
			[]string{`type 3:5 link "a": transport must not be null`}, "",
		},
		{
			"column in bytes after non-ASCII", "log: {file: é, sylog: x}\n",
			[]string{`unknown-attribute 1:17 unsupported key "sylog"`}, `did you mean "syslog"?`,
		},
		{
			"merge key", "x: &a {systemd: true}\ndaemon:\n  <<: *a\n",
			[]string{`syntax 3:3 unsupported YAML merge key "<<"`}, "",
		},
		{
			"foreign tag", "daemon: !systemd {}\n",
			[]string{`syntax 1:9 unsupported YAML tag "!systemd"`}, "",
		},
		{
			"non-scalar key", "daemon:\n  ? [a]\n  : 1\n",
			[]string{"syntax 2:5 invalid YAML key"}, "got a list",
		},
		{
			"second document", "daemon: {}\n---\nlog: {}\n",
			[]string{"syntax 2:1 multiple YAML documents in one file"}, "",
		},
		{
			"syntax error", "daemon:\n  lock_file: [/x\n",
			[]string{"syntax 2:3 invalid YAML: did not find expected ',' or ']'"}, "",
		},
		{
			"bad indentation", "daemon:\n  systemd: true\n lock_file: /x\n",
			[]string{"syntax 3:2 invalid YAML: this line's indentation matches no enclosing block (did not find expected key)"}, "",
		},
		{
			// yaml.v3 names line 4, where the mapping under link starts.
			"bad indentation deep in a block", "sync:\n  ftfw: {}\nlink:\n  a:\n    transport: udp\n   port: 1\n",
			[]string{"syntax 6:4 invalid YAML: this line's indentation matches no enclosing block (did not find expected key)"}, "",
		},
		{
			"bad indentation in a list item", "link:\n  - name: a\n    transport: udp\n\n   # the mistake:\n   port: 1\n",
			[]string{"syntax 6:4 invalid YAML: this line's indentation matches no enclosing block (did not find expected '-' indicator)"}, "",
		},
		{
			"block scalar contents are not indentation mistakes", "daemon:\n  lock_file: |\n      /x\n   y\n lock: 1\n",
			[]string{"syntax 5:2 invalid YAML: this line's indentation matches no enclosing block (did not find expected key)"}, "",
		},
		{
			"unknown anchor", "daemon:\n  lock_file: *nope\n",
			[]string{"syntax 2:14 invalid YAML: unknown anchor 'nope' referenced"}, "",
		},
		{
			"control character", "daemon:\n  lock_file: \"a\x01\"\n",
			[]string{"syntax 2:16 invalid YAML: control characters are not allowed"}, "",
		},
		{
			"alias cycle", "filter: {stage: {protocol: {accept: &a [x, *a]}}}\n",
			[]string{"syntax 1:44 invalid YAML alias"}, "refers to a value that contains it",
		},
		{
			"not a number", "link: {a: {transport: udp, port: .nan}}\n",
			[]string{"syntax 1:34 invalid YAML number"}, "",
		},
		{
			"document is a list", "- daemon: {}\n",
			[]string{"type 1:1 unsuitable value type for the configuration"}, "got a list",
		},
		{
			"a string for a list", "filter:\n  stage:\n    protocol: {accept: tcp}\n",
			[]string{`type 3:24 filter: stage "protocol": accept: a list of strings is required, got "tcp"`}, "",
		},
		{
			"a boolean for a number", "link: {a: {transport: udp, port: true}}\n",
			[]string{`type 1:34 link "a": port: a whole number is required, got a boolean`}, "",
		},
		{
			"a number for a block", "stats: 5\n",
			[]string{`type 1:8 unsuitable value type for block "stats"`}, "a stats block is written as a mapping",
		},
		{
			"out of range", "cache: {a: {size: 99999999999999999999}}\n",
			[]string{`range 1:19 cache "a": size: a whole number within 64 bits is required, got 99999999999999999999`}, "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := decodeYAML(tt.src)
			var got []string
			for _, d := range diags {
				got = append(got, diagLine(d))
				if d.Pos.File != "c.yaml" {
					t.Errorf("%v: file %q, want c.yaml", d, d.Pos.File)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if tt.detail != "" && len(diags) > 0 && !strings.Contains(diags[0].Detail, tt.detail) {
				t.Errorf("detail %q lacks %q", diags[0].Detail, tt.detail)
			}
		})
	}
}

// TestYAMLMatchesHCL checks that YAML is only another spelling: the same
// configuration decodes to the same File, and the same mistake gets the
// same diagnostic (code, place) in the words of each syntax: YAML users
// read keys, mappings and lists, not HCL's arguments, blocks and tuples.
func TestYAMLMatchesHCL(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "yaml", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want, diags := decodeHCL(t, "full.hcl", read("full.hcl"))
	if len(diags) > 0 {
		t.Fatalf("full.hcl: %v", diags)
	}
	got, diags := decodeYAML(read("full.yaml"))
	if len(diags) > 0 {
		t.Fatalf("full.yaml: %v", diags)
	}
	if diff := cmp.Diff(want, got, ignoreSyntax); diff != "" {
		t.Errorf("full.yaml differs from full.hcl (-hcl +yaml):\n%s", diff)
	}

	mistakes := []struct {
		name, hcl, yaml string
		hclWords        string // in the HCL diagnostic (message; detail)
		yamlWords       string // in the YAML one
	}{
		{"misspelt attribute", "daemon {\n  lock_fil = \"/x\"\n}\n", "daemon:\n  lock_fil: /x\n",
			`unsupported argument; An argument named "lock_fil" is not expected here. Did you mean "lock_file"?`,
			`unsupported key "lock_fil"; did you mean "lock_file"?`},
		{"misspelt block", "deamon {\n}\n", "deamon: {}\n",
			`unsupported block type; Blocks of type "deamon" are not expected here. Did you mean "daemon"?`,
			`unsupported key "deamon"; did you mean "daemon"?`},
		{"misspelt labeled attribute", "link \"a\" {\n  transport = \"udp\"\n  prot = 1\n}\n", "link:\n  a:\n    transport: udp\n    prot: 1\n",
			`Did you mean "port"?`, `unsupported key "prot"; did you mean "port"?`},
		{"unknown attribute", "scheduler {\n  nice = 1\n}\n", "scheduler:\n  nice: 1\n",
			`An argument named "nice" is not expected here`, `unsupported key "nice"; no setting of that name belongs here`},
		{"missing attribute", "link \"a\" {\n}\n", "link: {a: {}}\n",
			`missing required argument; The argument "transport" is required`, `missing required key; the key "transport" is required`},
		{"metrics without listen", "metrics {\n}\n", "metrics: {}\n",
			`missing required argument; The argument "listen" is required`, `missing required key; the key "listen" is required`},
		{"wrong type", "daemon {\n  systemd = \"yes\"\n}\n", "daemon:\n  systemd: yes\n",
			`a boolean (true or false) is required, got "yes"`, `a boolean (true or false) is required, got "yes"`},
		{"list for a string", "daemon {\n  lock_file = [\"/x\"]\n}\n", "daemon:\n  lock_file: [/x]\n",
			`a string is required, got tuple`, `a string is required, got a list`},
		{"mapping for a string", "daemon {\n  lock_file = {a = 1}\n}\n", "daemon:\n  lock_file: {a: 1}\n",
			`a string is required, got object`, `a string is required, got a mapping`},
	}
	hclTerms := regexp.MustCompile(`argument|[Bb]lock type|tuple|object`)
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			_, hd := decodeHCL(t, "c.hcl", m.hcl)
			_, yd := decodeYAML(m.yaml)
			if len(hd) != 1 || len(yd) != 1 {
				t.Fatalf("want one diagnostic each; hcl %v, yaml %v", hd, yd)
			}
			h, y := hd[0], yd[0]
			if h.Code != y.Code || h.Severity != y.Severity {
				t.Errorf("different diagnostics:\nhcl:  %s %v\nyaml: %s %v", h.Code, h, y.Code, y)
			}
			words := func(d Diagnostic) string { return d.Message + "; " + d.Detail }
			if !strings.Contains(words(h), m.hclWords) {
				t.Errorf("hcl says %q, want %q in it", words(h), m.hclWords)
			}
			if !strings.Contains(words(y), m.yamlWords) {
				t.Errorf("yaml says %q, want %q in it", words(y), m.yamlWords)
			}
			if w := hclTerms.FindString(words(y)); w != "" {
				t.Errorf("yaml says %q: HCL's term %q", words(y), w)
			}
		})
	}
}

// TestYAMLPositions checks the ranges the decoder records, which every
// later message (validation) points at.
func TestYAMLPositions(t *testing.T) {
	src := "link:\n  - name: a\n    transport: udp\n  - name: b\n    transport: tcp\nfilter:\n  stage:\n    address:\n      ignore:\n        - 10.0.0.1\n        - 10.0.0.2\n"
	got, diags := decodeYAML(src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	tests := []struct {
		name string
		r    hcl.Range
		want string
	}{
		{"second link", got.Links[1].DefRange, "c.yaml:4:5"},
		{"second link label", got.Links[1].Labels[0], "c.yaml:4:11"},
		{"second link transport", got.Links[1].AttrRange("transport"), "c.yaml:5:16"},
		{"stage", got.Filter.Stages[0].DefRange, "c.yaml:8:5"},
		{"second address", got.Filter.Stages[0].ElemRange("ignore", 1), "c.yaml:11:11"},
	}
	for _, tt := range tests {
		if s := PosOf(tt.r).String(); s != tt.want {
			t.Errorf("%s at %s, want %s", tt.name, s, tt.want)
		}
	}
	// Byte offsets agree with line and column.
	r := got.Filter.Stages[0].ElemRange("ignore", 1)
	if s := src[r.Start.Byte:r.End.Byte]; s != "10.0.0.2" {
		t.Errorf("range of second address covers %q", s)
	}
}

// TestYAMLWriterRoundTrip reads back what WriteYAML writes.
func TestYAMLWriterRoundTrip(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "yaml", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, diags := decodeYAML(string(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, want, nil); err != nil {
		t.Fatal(err)
	}
	got, diags := decodeYAML(buf.String())
	if len(diags) > 0 {
		t.Fatalf("%v\n%s", diags, buf.Bytes())
	}
	if diff := cmp.Diff(want, got, ignoreSyntax); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, buf.Bytes())
	}
}

// TestYAMLAliasBomb checks that aliases cannot make a small file expand to
// an enormous value.
func TestYAMLAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s%s]\n", i, i, strings.Repeat(ref+", ", 9), ref)
	}
	b.WriteString("filter: {stage: {protocol: {accept: *a8}}}\n")
	_, diags := decodeYAML(b.String())
	var found bool
	for _, d := range diags {
		if strings.Contains(d.Detail, "Aliases expand to more than") {
			found = true
		}
	}
	if !found {
		t.Errorf("no alias expansion error in %v", diags)
	}
}

func FuzzYAMLDecode(f *testing.F) {
	for _, s := range []string{
		"",
		"daemon: {systemd: true}\n",
		"link:\n  - name: a\n    transport: udp\n",
		"sync: {mode: ftfw}\ncache: {internal: {size: 0x10}}\n",
		"a: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		body, diags := ParseYAML("f.yaml", src)
		if !diags.HasErrors() {
			var file File
			diags = append(diags, decodeBody(body, nil, &file)...)
			if !diags.HasErrors() && len(file.Variables) == 0 {
				var buf bytes.Buffer
				if err := WriteYAML(&buf, &file, nil); err != nil {
					t.Fatal(err)
				}
				again, ds := decodeYAML(buf.String())
				if ds.HasErrors() {
					t.Fatalf("rewritten does not decode: %v\n%s", ds, buf.Bytes())
				}
				if diff := cmp.Diff(&file, again, ignoreSyntax); diff != "" {
					t.Fatalf("round trip (-want +got):\n%s\n%s", diff, buf.Bytes())
				}
			}
			for _, v := range file.Variables {
				if v.Default != nil {
					_, hds := v.Default.Value(nil)
					diags = append(diags, FromHCL(hds)...)
				}
			}
		}
		for _, d := range diags {
			if d.Pos.File != "f.yaml" || d.Pos.Line < 1 || d.Pos.Column < 1 {
				t.Errorf("diagnostic without position: %#v", d)
			}
			if d.Code == "" || d.Message == "" {
				t.Errorf("diagnostic without code or message: %#v", d)
			}
		}
	})
}

// TestYAMLThroughParse checks the front end behind Parse, which wraps the
// body for dynamic blocks and evaluates variables first.
func TestYAMLThroughParse(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "yaml", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, diags := decodeYAML(string(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	got, diags := Parse("full.yaml", src, LoadOptions{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if diff := cmp.Diff(want, got, ignoreSyntax); diff != "" {
		t.Errorf("Parse (-decodeBody +Parse):\n%s", diff)
	}
	_, diags = Parse("bad.yaml", []byte("daemon:\n  lock_fil: /x\n"), LoadOptions{})
	if got := fmt.Sprint(diags); got != `bad.yaml:2:3: error: unsupported key "lock_fil"; did you mean "lock_file"?` {
		t.Errorf("Parse diagnostics: %s", got)
	}
}
