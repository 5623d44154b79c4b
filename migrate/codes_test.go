package migrate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDiagnosticCodesDocumented: every code this package emits has a row in
// docs/diagnostics.md, where tools that match on codes look them up.
func TestDiagnosticCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/diagnostics.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`\.(?:fail|warn|Warnf|Errorf)\([^,]+, "([a-z-]+)"|\.Add\([^,]+, [^,]+, "([a-z-]+)"|Code: +"([a-z-]+)"`)
	found := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			found[m[1]+m[2]+m[3]] = true
		}
	}
	if len(found) < 20 {
		t.Fatalf("found only %d codes; has the call form changed?", len(found))
	}
	for code := range found {
		if !strings.Contains(string(doc), "| `"+code+"` |") {
			t.Errorf("code %q is not documented in docs/diagnostics.md", code)
		}
	}
}
