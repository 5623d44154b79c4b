package migrate

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/config"
)

// TestMappingComplete: every keyword of the legacy grammar (deprecated and
// removed ones included) has exactly one mapping entry, and every entry
// names a keyword of the grammar.
func TestMappingComplete(t *testing.T) {
	seen := map[string]int{}
	for _, m := range Mappings {
		seen[m.Path]++
	}
	for _, k := range Grammar {
		switch seen[k.Path] {
		case 0:
			t.Errorf("legacy keyword %s (%s) has no entry in Mappings", k.Path, k.Status)
		case 1:
		default:
			t.Errorf("legacy keyword %s has %d entries in Mappings", k.Path, seen[k.Path])
		}
	}
	for _, m := range Mappings {
		if _, ok := KeywordAt(m.Path); !ok {
			t.Errorf("mapping %s names no keyword of the grammar", m.Path)
		}
		if m.Target == "" && m.Note == "" {
			t.Errorf("mapping %s has neither a target nor the reason it has none", m.Path)
		}
	}
	if len(Mappings) != len(Grammar) {
		t.Errorf("%d mappings for %d grammar keywords", len(Mappings), len(Grammar))
	}
}

// TestMappingTargets: each target names a real place in the model, so the
// doc cannot promise a home that does not exist.
func TestMappingTargets(t *testing.T) {
	for _, m := range Mappings {
		if m.Target == "" {
			continue
		}
		for _, target := range strings.Split(m.Target, ", ") {
			if err := resolveModelPath(target); err != nil {
				t.Errorf("mapping %s: target %q: %v", m.Path, target, err)
			}
		}
	}
}

// resolveModelPath walks the syntax structs by their HCL names. A labeled
// block takes one segment for its label (any word, or "*"), which may be
// left out at the end ("link", "filter.stage.protocol").
func resolveModelPath(path string) error {
	t := reflect.TypeOf(config.File{})
	segs := strings.Split(path, ".")
	for i := 0; i < len(segs); i++ {
		f, ok := fieldByHCLName(t, segs[i])
		if !ok {
			return fmt.Errorf("%s has no %q", t.Name(), segs[i])
		}
		ft := f.Type
		for ft.Kind() == reflect.Ptr || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct {
			if i != len(segs)-1 {
				return fmt.Errorf("%q is an attribute, not a block", segs[i])
			}
			return nil
		}
		if hasLabel(ft) && i+1 < len(segs) {
			if _, isField := fieldByHCLName(ft, segs[i+1]); !isField {
				i++ // the label
			}
		}
		t = ft
	}
	return nil
}

func fieldByHCLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, kind, _ := strings.Cut(f.Tag.Get("hcl"), ",")
		if tag == name && kind != "label" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func hasLabel(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if strings.HasSuffix(t.Field(i).Tag.Get("hcl"), ",label") {
			return true
		}
	}
	return false
}

// TestMappingDoc keeps docs/legacy-mapping.md and docs/legacy-quirks.md in
// step with the tables; -update rewrites them.
func TestMappingDoc(t *testing.T) {
	for _, doc := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
		{"../docs/legacy-mapping.md", func(b *bytes.Buffer) error { return WriteMappingDoc(b) }},
		{"../docs/legacy-quirks.md", func(b *bytes.Buffer) error { return WriteQuirksDoc(b) }},
	} {
		var got bytes.Buffer
		if err := doc.write(&got); err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(doc.path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatalf("%v (run go test ./migrate -run TestMappingDoc -update)", err)
		}
		if diff := cmp.Diff(string(want), got.String()); diff != "" {
			t.Errorf("%s is stale; run go test ./migrate -run TestMappingDoc -update (-file +generated):\n%s", doc.path, diff)
		}
	}
}
