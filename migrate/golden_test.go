package migrate

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/ctsync/ctsync/config"
)

// corpusDir is the legacy configuration corpus that the project keeps beside
// the repository (shared/legacy-configs), as test data.
const corpusDir = "../../shared/legacy-configs"

// update is -update: rewrite the golden files (and generated docs) instead
// of comparing with them; review the diff afterwards.
var update = flag.Bool("update", false, "rewrite golden files and generated docs")

// noInterfaces makes results independent of the machine: every interface
// named in the corpus counts as present except "absent0".
func noInterfaces(name string) bool { return name != "absent0" }

func goldenName(path string) string {
	rel, _ := filepath.Rel(corpusDir, path)
	return strings.TrimSuffix(strings.ReplaceAll(rel, "/", "__"), ".conf") + ".txtar"
}

func diagText(ds config.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		d.Pos.File = filepath.Base(d.Pos.File)
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGolden migrates every corpus file to HCL and YAML and compares with
// testdata/golden/<name>.txtar (want.hcl, want.yaml, diagnostics). Run
// `go test ./migrate -run TestGolden -update` to rewrite them, then read
// the diff.
func TestGolden(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(goldenName(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(path)
			hclOut, diags := Migrate(name, src, MigrateOptions{Format: "hcl", InterfaceExists: noInterfaces})
			yamlOut, _ := Migrate(name, src, MigrateOptions{Format: "yaml", InterfaceExists: noInterfaces})
			got := &txtar.Archive{Comment: []byte("ctsync migrate " + name + "\n")}
			if hclOut != nil {
				got.Files = append(got.Files,
					txtar.File{Name: "want.hcl", Data: hclOut},
					txtar.File{Name: "want.yaml", Data: yamlOut})
			}
			got.Files = append(got.Files, txtar.File{Name: "diagnostics", Data: []byte(diagText(diags))})

			golden := filepath.Join("testdata", "golden", goldenName(path))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, txtar.Format(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := txtar.ParseFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(txtar.Format(want)), string(txtar.Format(got))); diff != "" {
				t.Errorf("migrate %s differs from %s (-want +got):\n%s", name, golden, diff)
			}
		})
	}
}

// canonical is the model written without comments: two models are the same
// configuration exactly when their canonical texts are equal.
func canonical(t *testing.T, f *config.File) string {
	t.Helper()
	var b bytes.Buffer
	if err := config.WriteHCL(&b, f, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func convertCorpus(t *testing.T, path string, dialect Dialect) (*config.File, bool) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lf, diags := Parse(filepath.Base(path), src, Options{Dialect: dialect, InterfaceExists: noInterfaces})
	if diags.HasErrors() {
		return nil, false
	}
	f, _, cds := Convert(lf)
	if cds.HasErrors() {
		return nil, false
	}
	if _, vds := config.Validate(f, config.ValidateOptions{InterfaceExists: noInterfaces}); vds.HasErrors() {
		return nil, false
	}
	return f, true
}

// TestRoundTripModel: legacy -> model -> HCL (and YAML) -> model is the
// identity, for every corpus file that converts.
func TestRoundTripModel(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(goldenName(path), func(t *testing.T) {
			f, ok := convertCorpus(t, path, DialectLenient)
			if !ok {
				t.Skip("does not convert (see its golden file)")
			}
			want := canonical(t, f)
			for _, format := range []string{"hcl", "yaml"} {
				src, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				out, diags := Migrate(filepath.Base(path), src, MigrateOptions{Format: format, InterfaceExists: noInterfaces})
				if diags.HasErrors() {
					t.Fatalf("migrate --format %s: %v", format, diags)
				}
				back, pds := config.Parse("out."+format, out, config.LoadOptions{})
				if pds.HasErrors() {
					t.Fatalf("migrated %s does not parse: %v\n%s", format, pds, out)
				}
				if _, vds := config.Validate(back, config.ValidateOptions{InterfaceExists: noInterfaces}); vds.HasErrors() {
					t.Fatalf("migrated %s does not validate: %v", format, vds)
				}
				if diff := cmp.Diff(want, canonical(t, back)); diff != "" {
					t.Errorf("%s round trip changed the model (-legacy +%s):\n%s", format, format, diff)
				}
			}
		})
	}
}

var netipEqual = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// TestRoundTripExport: model -> export legacy -> the installed conntrackd
// accepts it -> parse -> convert -> the same model, for every corpus file
// that converts. This is what lets an operator author in HCL and still run
// the legacy daemon on some nodes.
func TestRoundTripExport(t *testing.T) {
	requireConntrackd(t)
	dir := t.TempDir()
	for i, path := range corpusFiles(t) {
		t.Run(goldenName(path), func(t *testing.T) {
			f, ok := convertCorpus(t, path, DialectLenient)
			if !ok {
				t.Skip("does not convert (see its golden file)")
			}
			var legacy bytes.Buffer
			eds, err := Export(&legacy, f)
			if err != nil || eds.HasErrors() {
				t.Fatalf("export: %v %v", err, eds)
			}
			if ok, out := conntrackdAccepts(t, dir, i, legacy.String()); !ok {
				t.Fatalf("conntrackd refuses the exported file:\n%s\n%s", out, legacy.String())
			}
			exported := filepath.Join(dir, goldenName(path)+".conf")
			if err := os.WriteFile(exported, legacy.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			back, ok := convertCorpus(t, exported, Dialect147)
			if !ok {
				t.Fatalf("the exported file does not convert back:\n%s", legacy.String())
			}
			// The same configuration, not the same text: an explicit default
			// (DisableExternalCache no) is not written back.
			before, _ := config.Validate(f, config.ValidateOptions{InterfaceExists: noInterfaces})
			after, _ := config.Validate(back, config.ValidateOptions{InterfaceExists: noInterfaces})
			if diff := cmp.Diff(before, after, netipEqual); diff != "" {
				t.Errorf("export round trip changed the configuration (-before +after):\n%s\nexported:\n%s", diff, legacy.String())
			}
		})
	}
}
