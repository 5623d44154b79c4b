// Package testexec finds the external commands a module's tests execute,
// so that CI can check it installs every one of them (.ci/test). A test
// that runs a command the CI machine lacks fails there and nowhere else:
// "exec of ping failed" on a fresh runner, after passing on every
// developer's machine that happened to have it.
//
// It reads the source, typed, rather than watching the tests run: a static
// scan covers the tests that skip where it runs (the privileged ones), and
// a command name it cannot work out is itself reported, so writing
// exec.Command with a variable does not slip past it.
//
// What counts as running a command:
//   - os/exec.Command, CommandContext and LookPath, os.StartProcess,
//     syscall.Exec and ForkExec, testscript's (*TestScript).Exec;
//   - any function of the module that passes one of its parameters on as
//     the command name of one of those, transitively (netnstest's Exec and
//     Command, a test's own run helper);
//   - "ip netns exec NS CMD ...": CMD is run too;
//   - in testscript scripts, "exec CMD" and the script commands of the
//     module that pass one of their arguments to (*TestScript).Exec.
//
// A command name is worked out when it is a constant (also a path: its base
// name counts), a variable ranging over a literal list of constants, or a
// variable defined from a constant or from exec.LookPath of one.
package testexec

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/types"
	"path"
	"sort"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"
)

// Use is one place that runs an external command.
type Use struct {
	Command string
	Pos     string // file:line:col
}

// Unresolved is a place that runs a command whose name the scan cannot
// work out.
type Unresolved struct {
	Pos  string
	Expr string // the name expression as written
}

// Report is what Scan found, sorted by position.
type Report struct {
	Uses       []Use
	Unresolved []Unresolved
}

// execFuncs are the functions that run a command, keyed by
// types.Func.FullName, with the index of the argument naming it and of
// the first argument passed to the command (-1: none).
var execFuncs = map[string]sink{
	"os/exec.Command":                          {name: 0, args: 1},
	"os/exec.CommandContext":                   {name: 1, args: 2},
	"os/exec.LookPath":                         {name: 0, args: -1},
	"os.StartProcess":                          {name: 0, args: -1},
	"syscall.Exec":                             {name: 0, args: -1},
	"syscall.ForkExec":                         {name: 0, args: -1},
	"(*" + testscriptPkg + ".TestScript).Exec": {name: 0, args: 1},
}

const testscriptPkg = "github.com/rogpeppe/go-internal/testscript"

// sink says which arguments of a command-running function are the command
// name and the first of its arguments (-1 if they are not passed on).
type sink struct{ name, args int }

// Scan loads the packages matching patterns in dir (the module's root),
// with their tests, and reports every external command they run.
func Scan(dir string, patterns ...string) (*Report, error) {
	cfg := &packages.Config{
		Mode:  packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:   dir,
		Tests: true,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %v in %s: %w", patterns, dir, err)
	}
	var errs []error
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			errs = append(errs, e)
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("loading %v in %s: %v", patterns, dir, errs[0])
	}
	s := &scanner{
		sinks:       map[string]sink{},
		cmdFuncs:    map[string]string{},
		scriptFuncs: map[string]int{},
		builtins:    map[string]bool{},
		seen:        map[string]bool{},
		report:      &Report{},
	}
	for k, v := range execFuncs {
		s.sinks[k] = v
	}
	// Functions that pass a parameter on as a command name run commands
	// themselves; iterate until no new one turns up.
	for changed := true; changed; {
		changed = false
		for _, p := range pkgs {
			for _, f := range p.Syntax {
				if s.findSinks(p, f) {
					changed = true
				}
			}
		}
	}
	scriptDirs := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Syntax {
			s.findScripts(p, f, scriptDirs)
		}
	}
	for _, p := range pkgs {
		for _, f := range p.Syntax {
			s.collect(p, f)
		}
	}
	dirs := make([]string, 0, len(scriptDirs))
	for d := range scriptDirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := s.scanScripts(d); err != nil {
			return nil, err
		}
	}
	sort.Slice(s.report.Uses, func(i, j int) bool { return s.report.Uses[i].Pos < s.report.Uses[j].Pos })
	sort.Slice(s.report.Unresolved, func(i, j int) bool { return s.report.Unresolved[i].Pos < s.report.Unresolved[j].Pos })
	return s.report, nil
}

type scanner struct {
	sinks map[string]sink
	// cmdFuncs maps the custom testscript commands to the functions
	// implementing them, scriptFuncs those functions to the index of the
	// argument they run; builtins are the commands testscript.Main makes
	// the test binary provide.
	cmdFuncs    map[string]string
	scriptFuncs map[string]int
	builtins    map[string]bool
	// seen dedupes positions: with tests, a package's files are loaded
	// twice (the package and its test variant).
	seen   map[string]bool
	report *Report
}

// call is a call to a command-running function: the expression naming the
// command, and the arguments passed to it as far as they are literal.
type call struct {
	name ast.Expr
	args []ast.Expr
	// rest is the variadic expression the arguments end with ("args..."),
	// if any.
	rest ast.Expr
}

// calls returns the command-running calls in n: the direct ones and, for
// "ip netns exec NS CMD", the command CMD.
func (s *scanner) calls(info *types.Info, n ast.Node) []call {
	ce, ok := n.(*ast.CallExpr)
	if !ok {
		return nil
	}
	fn := typeutil.StaticCallee(info, ce)
	if fn == nil {
		return nil
	}
	k, ok := s.sinks[fn.FullName()]
	if !ok || k.name >= len(ce.Args) {
		return nil
	}
	c := call{name: ce.Args[k.name]}
	if k.args >= 0 && k.args < len(ce.Args) {
		c.args, c.rest = spread(ce, k.args)
	}
	out := []call{c}
	// ip netns exec NS CMD ARGS...
	if cmd, ok := constString(info, c.name); ok && path.Base(cmd) == "ip" && len(c.args) >= 4 {
		a0, _ := constString(info, c.args[0])
		a1, _ := constString(info, c.args[1])
		if a0 == "netns" && a1 == "exec" {
			out = append(out, call{name: c.args[3], args: c.args[4:], rest: c.rest})
		}
	}
	return out
}

// spread returns the arguments of ce from index i on as a list, looking
// into a trailing "[]string{...}..." or "append([]string{...}, ...)...";
// rest is what cannot be listed.
func spread(ce *ast.CallExpr, i int) (args []ast.Expr, rest ast.Expr) {
	args = append(args, ce.Args[i:]...)
	if !ce.Ellipsis.IsValid() {
		return args, nil
	}
	last := args[len(args)-1]
	args = args[:len(args)-1]
	for {
		switch e := ast.Unparen(last).(type) {
		case *ast.CompositeLit:
			return append(args, e.Elts...), nil
		case *ast.CallExpr:
			if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "append" && len(e.Args) > 0 {
				if lit, ok := ast.Unparen(e.Args[0]).(*ast.CompositeLit); ok {
					args = append(args, lit.Elts...)
					if len(e.Args) == 2 && e.Ellipsis.IsValid() {
						return args, e.Args[1]
					}
					if !e.Ellipsis.IsValid() {
						return append(args, e.Args[1:]...), nil
					}
				}
			}
		}
		return args, last
	}
}

// findSinks records the functions declared in f that pass a parameter on
// as a command name; it reports whether it found a new one.
func (s *scanner) findSinks(p *packages.Package, f *ast.File) bool {
	changed := false
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		obj, ok := p.TypesInfo.Defs[fd.Name].(*types.Func)
		if !ok {
			continue
		}
		key := obj.FullName()
		if _, ok := s.sinks[key]; ok {
			continue
		}
		params := paramIndex(p.TypesInfo, fd)
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			for _, c := range s.calls(p.TypesInfo, n) {
				i, ok := params[identVar(p.TypesInfo, c.name)]
				if !ok {
					continue
				}
				k := sink{name: i, args: -1}
				if c.rest != nil && len(c.args) == 0 {
					if j, ok := params[identVar(p.TypesInfo, c.rest)]; ok {
						k.args = j
					}
				}
				if _, done := s.sinks[key]; !done {
					s.sinks[key] = k
					changed = true
				}
			}
			return true
		})
	}
	return changed
}

// paramIndex maps the parameters of fd to their positions.
func paramIndex(info *types.Info, fd *ast.FuncDecl) map[*types.Var]int {
	m := map[*types.Var]int{}
	i := 0
	for _, field := range fd.Type.Params.List {
		if len(field.Names) == 0 {
			i++
			continue
		}
		for _, n := range field.Names {
			if v, ok := info.Defs[n].(*types.Var); ok {
				m[v] = i
			}
			i++
		}
	}
	return m
}

func identVar(info *types.Info, e ast.Expr) *types.Var {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok {
		return nil
	}
	v, _ := info.Uses[id].(*types.Var)
	return v
}

// collect records every command run in f, or the places where the name
// cannot be worked out: in function bodies and in package-level
// declarations (var cmd = exec.Command(...)).
func (s *scanner) collect(p *packages.Package, f *ast.File) {
	info := p.TypesInfo
	for _, d := range f.Decls {
		var (
			scope      ast.Node = d
			params     map[*types.Var]int
			isSink     bool
			scriptArgs *types.Var
		)
		fd, isFunc := d.(*ast.FuncDecl)
		if isFunc {
			if fd.Body == nil {
				continue
			}
			scope = fd.Body
			params = paramIndex(info, fd)
			if obj, ok := info.Defs[fd.Name].(*types.Func); ok {
				_, isSink = s.sinks[obj.FullName()]
			}
			scriptArgs = scriptArgsParam(info, fd)
		}
		ast.Inspect(scope, func(n ast.Node) bool {
			for _, c := range s.calls(info, n) {
				pos := p.Fset.Position(c.name.Pos()).String()
				if s.seen[pos] {
					continue
				}
				s.seen[pos] = true
				if v := identVar(info, c.name); v != nil {
					if _, ok := params[v]; ok && isSink {
						continue // the callers' arguments are checked
					}
				}
				if i, ok := scriptArg(info, c.name, scriptArgs); ok {
					s.scriptCmdFunc(info, fd, i)
					continue
				}
				names, ok := s.resolve(info, scope, c.name)
				if !ok {
					s.report.Unresolved = append(s.report.Unresolved, Unresolved{Pos: pos, Expr: types.ExprString(c.name)})
					continue
				}
				for _, name := range names {
					if s.builtins[name] {
						// The test binary itself, which testscript.Main
						// puts in $PATH under this name.
						continue
					}
					s.report.Uses = append(s.report.Uses, Use{Command: path.Base(name), Pos: pos})
				}
			}
			return true
		})
	}
}

// resolve works out the command names e can hold inside scope, a
// function body or a package-level declaration.
func (s *scanner) resolve(info *types.Info, scope ast.Node, e ast.Expr) ([]string, bool) {
	if c, ok := constString(info, e); ok {
		return []string{c}, true
	}
	v := identVar(info, e)
	if v == nil {
		return nil, false
	}
	var names []string
	found := false
	ast.Inspect(scope, func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.RangeStmt:
			// for _, tool := range []string{"nft", "conntrack"}
			if id, ok := n.Value.(*ast.Ident); ok && info.Defs[id] == v {
				found = true
				lit, ok := ast.Unparen(n.X).(*ast.CompositeLit)
				if !ok {
					return false
				}
				for _, el := range lit.Elts {
					c, ok := constString(info, el)
					if !ok {
						names = nil
						return false
					}
					names = append(names, c)
				}
			}
		case *ast.AssignStmt:
			// bin := "conntrackd", or bin, err := exec.LookPath("conntrackd")
			for i, lhs := range n.Lhs {
				id, ok := lhs.(*ast.Ident)
				if !ok || info.Defs[id] != v {
					continue
				}
				found = true
				var rhs ast.Expr
				if len(n.Rhs) == len(n.Lhs) {
					rhs = n.Rhs[i]
				} else if len(n.Rhs) == 1 && i == 0 {
					if ce, ok := n.Rhs[0].(*ast.CallExpr); ok {
						if fn := typeutil.StaticCallee(info, ce); fn != nil && fn.FullName() == "os/exec.LookPath" {
							rhs = ce.Args[0]
						}
					}
				}
				if c, ok := constString(info, rhs); ok {
					names = append(names, c)
				}
				return false
			}
		}
		return true
	})
	return names, len(names) > 0
}

func constString(info *types.Info, e ast.Expr) (string, bool) {
	if e == nil {
		return "", false
	}
	tv, ok := info.Types[e]
	if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(tv.Value), true
}
