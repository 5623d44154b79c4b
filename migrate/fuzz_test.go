package migrate

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
)

// FuzzLegacyParse checks that Parse never panics, that every diagnostic
// has a position inside the input, and that parsing is deterministic.
// Seeds: testdata/fuzz/FuzzLegacyParse (generated from the corpus).
func FuzzLegacyParse(f *testing.F) {
	f.Add([]byte("General { HashSize 5 }\n"), false)
	f.Add([]byte("Sync { Mode persistenT { } UDP Default { IPv4_address 1.2.3.4 } }\n"), true)
	// The filter defects (filterquirks.go): kernel lists and lost networks.
	f.Add([]byte("General { Filter From Kernelspace { Address Accept { IPv4_address 0.0.0.0/0 IPv6_address ::/0 IPv6_address 2001:db8::1 IPv6_address 2001:db8:1::/48 } } }\n"), false)
	noIface := func(string) bool { return false }
	f.Fuzz(func(t *testing.T, src []byte, lenient bool) {
		opts := Options{InterfaceExists: noIface}
		if lenient {
			opts.Dialect = DialectLenient
		}
		file, diags := Parse("f.conf", src, opts)
		lines := 1
		for _, c := range src {
			if c == '\n' {
				lines++
			}
		}
		for _, d := range diags {
			if d.Pos.Line <= 0 || d.Pos.Line > lines || d.Pos.Column <= 0 || d.Pos.File != "f.conf" || d.Code == "" || d.Message == "" {
				t.Fatalf("bad diagnostic %#v (input has %d lines)", d, lines)
			}
		}
		file2, diags2 := Parse("f.conf", src, opts)
		if !reflect.DeepEqual(diags, diags2) || !reflect.DeepEqual(file, file2) {
			t.Fatal("Parse is not deterministic")
		}
	})
}

// FuzzMigrate checks migrate's promise: whatever legacy text it accepts, it
// writes an HCL and a YAML file that ctsync reads back without error, into
// the same configuration; and every diagnostic it gives is located.
// Seeds: the FuzzLegacyParse corpus is reused (same input shape).
func FuzzMigrate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzLegacyParse/*")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		// "go test fuzz v1" files hold []byte("...") and bool lines.
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "[]byte("); ok {
				if src, err := strconv.Unquote(strings.TrimSuffix(rest, ")")); err == nil {
					f.Add([]byte(src))
				}
			}
		}
	}
	f.Add([]byte("Sync { Mode FTFW { } UDP { IPv4_address 127.0.0.1 IPv4_Destination_Address 127.0.0.2 Port 3780 Interface lo } }\n"))
	lo := func(n string) bool { return n == "lo" }
	f.Fuzz(func(t *testing.T, src []byte) {
		out, diags := Migrate("f.conf", src, MigrateOptions{Format: "hcl", InterfaceExists: lo})
		for _, d := range diags {
			if d.Pos.File != "f.conf" || d.Pos.Line <= 0 || d.Code == "" {
				t.Fatalf("unlocated diagnostic %#v", d)
			}
		}
		if diags.HasErrors() {
			if out != nil {
				t.Fatal("output written despite errors")
			}
			return
		}
		// No comment is lost (the parse cannot fail: Migrate parsed it).
		if lf, _ := Parse("f.conf", src, Options{Dialect: DialectLenient, InterfaceExists: lo}); lf != nil {
			for _, c := range lf.Comments {
				if text := commentText(c); !bytes.Contains(out, []byte(text)) {
					t.Fatalf("comment %q at %s is not in the output:\n%s", text, c.Pos, out)
				}
			}
		}
		back, pds := config.Parse("out.hcl", out, config.LoadOptions{})
		if pds.HasErrors() {
			t.Fatalf("migrate wrote HCL that does not parse: %v\n%s", pds, out)
		}
		if _, vds := config.Validate(back, config.ValidateOptions{InterfaceExists: lo}); vds.HasErrors() {
			t.Fatalf("migrate wrote HCL that does not validate: %v\n%s", vds, out)
		}
		yout, _ := Migrate("f.conf", src, MigrateOptions{Format: "yaml", InterfaceExists: lo})
		yback, yds := config.Parse("out.yaml", yout, config.LoadOptions{})
		if yds.HasErrors() {
			t.Fatalf("migrate wrote YAML that does not parse: %v\n%s", yds, yout)
		}
		var a, b bytes.Buffer
		if err := config.WriteHCL(&a, back, nil); err != nil {
			t.Fatal(err)
		}
		if err := config.WriteHCL(&b, yback, nil); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("HCL and YAML outputs differ:\n%s\n---\n%s", a.String(), b.String())
		}
	})
}
