package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	warn := func(line int, msg string) Diagnostic {
		return Diagnostic{Pos: Pos{File: "f", Line: line, Column: 1}, Severity: Warning, Code: "w", Message: msg}
	}
	errAt := func(line int) Diagnostic {
		return Diagnostic{Pos: Pos{File: "f", Line: line, Column: 1}, Severity: Error, Code: "e", Message: "bad"}
	}
	var repeated Diagnostics
	for i := 2; i <= 70001; i++ {
		repeated = append(repeated, warn(i, fmt.Sprintf("HashSize is set again; the value of line %d is discarded", i-1)))
	}
	var errors, mixed Diagnostics
	for i := 1; i <= 150; i++ {
		errors = append(errors, errAt(i))
		mixed = append(mixed, warn(2*i, fmt.Sprintf("warning %c%c", 'a'+i%26, 'a'+i/26)), errAt(2*i+1))
	}
	tests := []struct {
		name string
		in   Diagnostics
		want []string
	}{
		{"few pass unchanged", Diagnostics{warn(1, "x"), errAt(2)},
			[]string{"f:1:1: warning: x", "f:2:1: error: bad"}},
		{"same warning with other numbers folds", repeated,
			[]string{"f:2:1: warning: HashSize is set again; the value of line 1 is discarded (and 69999 more like it, the last at f:70001:1)"}},
		{"identical warnings fold", Diagnostics{warn(1, "x"), warn(2, "x")},
			[]string{"f:1:1: warning: x (and 1 more like it, the last at f:2:1)"}},
		{"a few warnings differing in numbers do not fold", Diagnostics{warn(4, `link "fw1": interface "eth1" does not exist`), warn(10, `link "fw2": interface "eth2" does not exist`)},
			[]string{`f:4:1: warning: link "fw1": interface "eth1" does not exist`, `f:10:1: warning: link "fw2": interface "eth2" does not exist`}},
		{"errors are not folded but capped", errors,
			append(lines(errors[:MaxDiagnostics]), "f: error: 50 more diagnostics not shown (50 errors, 0 warnings); at most 100 are shown per file; fix these first")},
		{"errors before warnings", mixed,
			append(lines(mixed.Errors()[:MaxDiagnostics]), "f: error: 200 more diagnostics not shown (50 errors, 150 warnings); at most 100 are shown per file; fix these first")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lines(tt.in.Fold(MaxDiagnostics))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func lines(ds Diagnostics) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}
