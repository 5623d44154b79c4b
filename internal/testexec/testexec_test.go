package testexec_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/testexec"
)

// A fresh CI machine has only Go: a test that runs a command .ci/test does
// not install fails there (it did: "exec of ping failed" in netnstest), and
// nowhere else. Every command the module's tests run must be in .ci/test's
// provides list, and every command there must be run by some test, so the
// list stays the one true account.
func TestCIInstallsEveryCommandTestsRun(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ci := filepath.Join(root, ".ci", "test")
	provided, err := testexec.Provided(ci)
	if err != nil {
		t.Fatal(err)
	}
	r, err := testexec.Scan(root, "./...")
	if err != nil {
		t.Fatal(err)
	}
	// internal/figures is a lab command (the README's benchmark), not a
	// test: .ci/run runs it after .ci/test, whose tests already need
	// what it runs (ip, conntrack, conntrackd); it also runs `go build`
	// when not given -ctsync, and the ctsync binary that flag names.
	byHand := func(pos string) bool { return strings.HasPrefix(rel(root, pos), "internal/figures/") }
	r.Uses = slices.DeleteFunc(r.Uses, func(u testexec.Use) bool { return byHand(u.Pos) })
	r.Unresolved = slices.DeleteFunc(r.Unresolved, func(u testexec.Unresolved) bool { return byHand(u.Pos) })
	run := map[string]bool{}
	for _, u := range r.Uses {
		run[u.Command] = true
		if _, ok := provided[u.Command]; !ok {
			t.Errorf("%s: runs %s, which .ci/test does not install: add it to provides there, with its Debian package", rel(root, u.Pos), u.Command)
		}
	}
	for _, u := range r.Unresolved {
		t.Errorf("%s: runs the command named by %s, which cannot be read from the source: name it with a constant, so CI can be checked to install it", rel(root, u.Pos), u.Expr)
	}
	for cmd := range provided {
		if !run[cmd] {
			t.Errorf("%s: provides %s, which no test runs: remove it", ci, cmd)
		}
	}
	// The scan must see the commands the privileged tests run, even
	// where they skip: if it went blind, the checks above would pass.
	for _, cmd := range []string{"ip", "ping", "conntrackd"} {
		if !run[cmd] {
			t.Errorf("scan found no test running %s; found %v", cmd, commands(r))
		}
	}
}

func rel(root, pos string) string {
	if r, err := filepath.Rel(root, pos); err == nil {
		return r
	}
	return pos
}

func commands(r *testexec.Report) []string {
	var out []string
	for _, u := range r.Uses {
		out = append(out, u.Command)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// A module of its own, so the scan runs on exactly these files. Its
// testscript dependency resolves from this module's go.sum and cache.
const fakeGoMod = `module fake

go 1.26

require github.com/rogpeppe/go-internal v1.16.0
`

func TestScan(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		want       []string // commands, sorted, with repeats
		unresolved []string // expressions
	}{{
		name: "literal",
		files: map[string]string{"a/a_test.go": `package a
import ("os/exec"; "testing")
func TestA(t *testing.T) { exec.Command("ping", "-c1", "x").Run() }`},
		want: []string{"ping"},
	}, {
		name: "constant path, CommandContext, external test package",
		files: map[string]string{"a/a_test.go": `package a_test
import ("context"; "os/exec"; "testing")
const bin = "/usr/sbin/conntrackd"
func TestA(t *testing.T) { exec.CommandContext(context.Background(), bin, "-C", "f").Run() }`},
		want: []string{"conntrackd"},
	}, {
		name: "helper package wrapping ip netns exec",
		files: map[string]string{
			"ns/ns.go": `package ns
import "os/exec"
type NS struct{ Name string }
func run(name string, args ...string) { exec.Command(name, args...).Run() }
func (n *NS) Exec(name string, args ...string) { run("ip", append([]string{"netns", "exec", n.Name, name}, args...)...) }
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}`,
			"a/a_test.go": `package a
import ("testing"; "fake/ns")
type lab struct{ a *ns.NS }
func (l *lab) run(name string) { l.a.Command(name).Run() }
func TestA(t *testing.T) {
	n := &ns.NS{}
	n.Exec("sysctl", "-n", "x")
	l := &lab{a: n}
	l.run("nft")
}`},
		want: []string{"ip", "ip", "nft", "sysctl"},
	}, {
		name: "range over a literal list, LookPath result",
		files: map[string]string{"a/a_test.go": `package a
import ("os/exec"; "testing")
func TestA(t *testing.T) {
	for _, tool := range []string{"conntrack", "nft"} { exec.LookPath(tool) }
	bin, _ := exec.LookPath("conntrackd")
	exec.Command(bin).Run()
}`},
		want: []string{"conntrack", "conntrackd", "conntrackd", "nft"},
	}, {
		name: "names from a variable cannot be read",
		files: map[string]string{"a/a_test.go": `package a
import ("os"; "os/exec"; "testing")
func runAll(names []string) { for _, n := range names { exec.Command(n).Run() } }
func TestA(t *testing.T) {
	runAll([]string{"tcpdump"})
	exec.Command(os.Getenv("CMD")).Run()
}`},
		unresolved: []string{"n", `os.Getenv("CMD")`},
	}, {
		name: "package-level declarations",
		files: map[string]string{"a/a_test.go": `package a
import ("os/exec"; "testing")
var probe = exec.Command("ping", "-c1", "x")
var tool = "tcpdump" // a variable: could be anything by the time it runs
func TestA(t *testing.T) { probe.Run(); exec.Command(tool).Run() }`},
		want:       []string{"ping"},
		unresolved: []string{"tool"},
	}, {
		name: "a helper given a name it cannot read",
		files: map[string]string{"a/a_test.go": `package a
import ("os"; "os/exec"; "testing")
func run(name string) { exec.Command(name).Run() }
func TestA(t *testing.T) { run(os.Args[1]) }`},
		unresolved: []string{"os.Args[1]"},
	}, {
		name: "testscript exec and a custom command that runs its argument",
		files: map[string]string{
			"a/a_test.go": `package a
import ("os"; "testing"; "github.com/rogpeppe/go-internal/testscript")
func TestMain(m *testing.M) { testscript.Main(m, map[string]func(){"tool": func() { os.Exit(0) }}) }
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"exitcode": exitcode}})
}
func exitcode(ts *testscript.TestScript, neg bool, args []string) { ts.Exec(args[1], args[2:]...) }`,
			"a/testdata/script/s.txtar": `# tool is the test binary itself
exec tool x
! exec ping -c1 x
[linux] exitcode 2 nft list
exec $WHAT
stdout exec
-- exec nft --
exec sysctl
`},
		want:       []string{"nft", "ping"},
		unresolved: []string{"$WHAT"},
	}}
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"go.mod": fakeGoMod, "go.sum": string(sum)}
			for name, text := range tt.files {
				files[name] = text
			}
			for name, text := range files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := testexec.Scan(dir, "./...")
			if err != nil {
				t.Fatal(err)
			}
			var got, unresolved []string
			for _, u := range r.Uses {
				got = append(got, u.Command)
				if !strings.HasPrefix(u.Pos, dir) {
					t.Errorf("use of %s at %q, want a position in %s", u.Command, u.Pos, dir)
				}
			}
			for _, u := range r.Unresolved {
				unresolved = append(unresolved, u.Expr)
			}
			sort.Strings(got)
			sort.Strings(unresolved)
			if !slices.Equal(got, tt.want) {
				t.Errorf("commands = %q, want %q", got, tt.want)
			}
			if !slices.Equal(unresolved, tt.unresolved) {
				t.Errorf("unresolved = %q, want %q", unresolved, tt.unresolved)
			}
		})
	}
}
