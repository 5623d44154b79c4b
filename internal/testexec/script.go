package testexec

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/types"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"
	"golang.org/x/tools/txtar"
)

// findScripts records, from f, the script directories of testscript.Params
// literals (into dirs), the custom script commands they register, and the
// commands testscript.Main builds into the test binary.
func (s *scanner) findScripts(p *packages.Package, f *ast.File, dirs map[string]bool) {
	info := p.TypesInfo
	here := filepath.Dir(p.Fset.Position(f.Pos()).Filename)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if !isNamed(info.TypeOf(n), testscriptPkg, "Params") {
				return true
			}
			for _, el := range n.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch key, _ := kv.Key.(*ast.Ident); {
				case key == nil:
				case key.Name == "Dir":
					if d, ok := constString(info, kv.Value); ok {
						dirs[filepath.Join(here, d)] = true
					}
				case key.Name == "Cmds":
					if m, ok := ast.Unparen(kv.Value).(*ast.CompositeLit); ok {
						for _, e := range m.Elts {
							kv, ok := e.(*ast.KeyValueExpr)
							if !ok {
								continue
							}
							name, ok := constString(info, kv.Key)
							id, _ := ast.Unparen(kv.Value).(*ast.Ident)
							if fn, _ := info.Uses[id].(*types.Func); ok && fn != nil {
								s.cmdFuncs[name] = fn.FullName()
							}
						}
					}
				}
			}
		case *ast.CallExpr:
			// testscript.Main(m, map[string]func(){"ctsync": ...})
			fn := typeutil.StaticCallee(info, n)
			if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != testscriptPkg ||
				(fn.Name() != "Main" && fn.Name() != "RunMain") || len(n.Args) < 2 {
				return true
			}
			if m, ok := ast.Unparen(n.Args[1]).(*ast.CompositeLit); ok {
				for _, e := range m.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if name, ok := constString(info, kv.Key); ok {
							s.builtins[name] = true
						}
					}
				}
			}
		}
		return true
	})
}

func isNamed(t types.Type, pkg, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkg && n.Obj().Name() == name
}

// scriptArgsParam returns the args parameter of fd if fd has the
// signature of a custom testscript command,
// func(ts *testscript.TestScript, neg bool, args []string).
func scriptArgsParam(info *types.Info, fd *ast.FuncDecl) *types.Var {
	obj, ok := info.Defs[fd.Name].(*types.Func)
	if !ok {
		return nil
	}
	sig := obj.Signature()
	if sig.Params().Len() != 3 || sig.Recv() != nil {
		return nil
	}
	ptr, ok := sig.Params().At(0).Type().(*types.Pointer)
	if !ok || !isNamed(ptr.Elem(), testscriptPkg, "TestScript") {
		return nil
	}
	return sig.Params().At(2)
}

// scriptArg reports whether e is args[K], K constant, for the args
// parameter of a custom testscript command.
func scriptArg(info *types.Info, e ast.Expr, args *types.Var) (int, bool) {
	if args == nil {
		return 0, false
	}
	ix, ok := ast.Unparen(e).(*ast.IndexExpr)
	if !ok || identVar(info, ix.X) != args {
		return 0, false
	}
	tv, ok := info.Types[ix.Index]
	if !ok || tv.Value == nil || tv.Value.Kind() != constant.Int {
		return 0, false
	}
	k, ok := constant.Int64Val(tv.Value)
	return int(k), ok
}

// scriptCmdFunc records that the custom script command fd runs its
// argument i.
func (s *scanner) scriptCmdFunc(info *types.Info, fd *ast.FuncDecl, i int) {
	if obj, ok := info.Defs[fd.Name].(*types.Func); ok {
		s.scriptFuncs[obj.FullName()] = i
	}
}

// scanScripts records the commands the scripts in dir run: "exec CMD", and
// CMD in the custom commands that run one of their arguments.
func (s *scanner) scanScripts(dir string) error {
	runs := map[string]int{"exec": 0}
	for name, fn := range s.cmdFuncs {
		if i, ok := s.scriptFuncs[fn]; ok {
			runs[name] = i
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("testscript directory: %w", err)
	}
	for _, e := range files {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".txt" && ext != ".txtar") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		// The script is the archive's comment, so its line numbers are
		// the file's.
		for i, line := range strings.Split(string(txtar.Parse(data).Comment), "\n") {
			words := scriptWords(line)
			if len(words) == 0 {
				continue
			}
			k, ok := runs[words[0]]
			if !ok || 1+k >= len(words) {
				continue
			}
			pos := fmt.Sprintf("%s:%d:1", file, i+1)
			name := words[1+k]
			switch {
			case strings.ContainsAny(name, "$"):
				s.report.Unresolved = append(s.report.Unresolved, Unresolved{Pos: pos, Expr: name})
			case s.builtins[name]:
				// Built into the test binary by testscript.Main.
			default:
				s.report.Uses = append(s.report.Uses, Use{Command: filepath.Base(name), Pos: pos})
			}
		}
	}
	return nil
}

// scriptWords splits a script line into words, without its conditions
// ("[linux]") and negation ("!", "?"); comments and blank lines have none.
// Quoting is not undone: a command name is not quoted in practice, and a
// quoted one shows up as a command no CI installs.
func scriptWords(line string) []string {
	words := strings.Fields(line)
	for len(words) > 0 {
		w := words[0]
		switch {
		case strings.HasPrefix(w, "#"):
			return nil
		case w == "!" || w == "?" || (strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]")):
			words = words[1:]
		default:
			return words
		}
	}
	return nil
}
