package migrate

import (
	"reflect"
	"testing"
)

// FuzzLegacyParse checks that Parse never panics, that every diagnostic
// has a position inside the input, and that parsing is deterministic.
// Seeds: testdata/fuzz/FuzzLegacyParse (generated from the corpus).
func FuzzLegacyParse(f *testing.F) {
	f.Add([]byte("General { HashSize 5 }\n"), false)
	f.Add([]byte("Sync { Mode persistenT { } UDP Default { IPv4_address 1.2.3.4 } }\n"), true)
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
