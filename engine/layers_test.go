package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const module = "github.com/ctsync/ctsync"

// link, filter and the kernel I/O package declare their own settings and
// never import config: its HCL and YAML decoders stay out of them, and
// only the engine knows both sides. Packages not written yet are skipped.
// The engine itself must be found importing config, or the check could
// not see an import at all.
func TestConfigOnlyReachesEngine(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"link", "filter", "engine/ctnl", "engine/control", "engine/cache", "engine/syncmode", "engine/render", "engine/metrics"}
	patterns := []string{"./engine"}
	for _, dir := range forbidden {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			patterns = append(patterns, "./"+dir+"/...")
		}
	}
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps, Dir: root}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("packages do not load")
	}
	checked := 0
	for _, p := range pkgs {
		path := pathTo(p, module+"/config", map[string]bool{})
		if p.PkgPath == module+"/engine" {
			if path == nil {
				t.Errorf("engine does not reach config: the import walk is broken")
			}
			continue
		}
		checked++
		if path != nil {
			t.Errorf("%s imports config: %s", p.PkgPath, strings.Join(path, " -> "))
		}
	}
	if checked == 0 {
		t.Errorf("no package checked among %v", forbidden)
	}
}

// pathTo returns the import chain from p to the package target, or nil.
func pathTo(p *packages.Package, target string, seen map[string]bool) []string {
	if p.PkgPath == target {
		return []string{p.PkgPath}
	}
	if seen[p.PkgPath] {
		return nil
	}
	seen[p.PkgPath] = true
	for _, imp := range p.Imports {
		if rest := pathTo(imp, target, seen); rest != nil {
			return slices.Insert(rest, 0, p.PkgPath)
		}
	}
	return nil
}
