// Package examples holds the bundled configurations; its tests load every
// one of them, and the HCL blocks of README.md, so that no example rots.
package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/migrate"
)

// onlyLo: examples use the loopback interface so they validate on any host.
func onlyLo(name string) bool { return name == "lo" }

func mustValidate(t *testing.T, path string, opts config.LoadOptions) config.Runtime {
	t.Helper()
	f, diags, err := config.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	rt, vds := config.Validate(f, config.ValidateOptions{Strict: true, InterfaceExists: onlyLo})
	diags = append(diags, vds...)
	// An example teaches: it must be clean, not merely valid.
	if len(diags) > 0 {
		t.Fatalf("%s:\n%v", path, diagLines(diags))
	}
	return rt
}

func diagLines(ds config.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("*.hcl")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) { mustValidate(t, f, config.LoadOptions{}) })
	}
}

// TestLegacyExampleMigrates: the bundled HCL is exactly what migrate makes
// of the bundled legacy file (README's main job), and the legacy file is
// one conntrackd 1.4.7 accepts.
func TestLegacyExampleMigrates(t *testing.T) {
	legacy := filepath.Join("legacy", "ftfw-multicast.conf")
	src, err := os.ReadFile(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := migrate.Parse(legacy, src, migrate.Options{Dialect: migrate.Dialect147, InterfaceExists: onlyLo}); len(diags) > 0 {
		t.Fatalf("conntrackd 1.4.7 would not take the bundled legacy example cleanly:\n%s", diagLines(diags))
	}
	out, diags := migrate.Migrate(legacy, src, migrate.MigrateOptions{InterfaceExists: onlyLo})
	if diags.HasErrors() {
		t.Fatal(diagLines(diags))
	}
	want, err := os.ReadFile("ftfw-multicast.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("ftfw-multicast.hcl is not what migrate writes (-file +migrate); regenerate with\n  go run ./cmd/ctsync migrate -o examples/ftfw-multicast.hcl examples/legacy/ftfw-multicast.conf\n%s", diff)
	}
}

// TestAnsibleExample renders the template for each host from its var-file,
// as the playbook in ctsync.hcl's header does.
func TestAnsibleExample(t *testing.T) {
	hosts, _ := filepath.Glob("ansible/host_vars/*.yaml")
	if len(hosts) != 2 {
		t.Fatalf("want two hosts, found %v", hosts)
	}
	peers := map[string]string{}
	for _, h := range hosts {
		rt := mustValidate(t, "ansible/ctsync.hcl", config.LoadOptions{VarFiles: []string{h}})
		if len(rt.Links) != 2 || !rt.Links[0].Default {
			t.Fatalf("%s: want two links, the first active; got %+v", h, rt.Links)
		}
		peers[rt.Links[0].Local.String()] = rt.Links[0].Peer.String()
	}
	// Each firewall sends to the other: the inventory was rendered symmetrically.
	for local, peer := range peers {
		if peers[peer] != local {
			t.Errorf("host %s sends to %s, which sends to %s", local, peer, peers[peer])
		}
	}
}

// TestNixExample loads the JSON that ctsync.nix evaluates to.
func TestNixExample(t *testing.T) {
	rt := mustValidate(t, "nix/ctsync.json", config.LoadOptions{})
	if len(rt.Links) != 1 || rt.Links[0].Interface != "lo" || rt.Sync.Mode.String() != "notrack" {
		t.Fatalf("unexpected runtime from nix/ctsync.json: %+v %+v", rt.Links, rt.Sync)
	}
}

var fence = regexp.MustCompile("(?s)```hcl\n(.*?)```")

// TestReadme validates every ```hcl block of README.md; partial snippets
// use another fence language.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := fence.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no hcl block")
	}
	for i, m := range blocks {
		f, diags := config.Parse("README.md block", m[1], config.LoadOptions{Syntax: config.SyntaxHCL})
		if !diags.HasErrors() {
			_, vds := config.Validate(f, config.ValidateOptions{Strict: true, InterfaceExists: onlyLo})
			diags = append(diags, vds...)
		}
		if len(diags) > 0 {
			t.Errorf("README.md hcl block %d:\n%s\n%s", i+1, diagLines(diags), bytes.TrimSpace(m[1]))
		}
	}
}
