package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI is tested end to end with txtar scripts in testdata/script: each
// runs the real command (exit codes, stdout, stderr, files written), the way
// an operator or a CI pipeline does.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ctsync": func() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": exitcodeCmd,
			"repeat":   repeatCmd,
		},
		Setup: func(env *testscript.Env) error {
			// The bundled examples, read-only, for scripts that use them.
			env.Setenv("EXAMPLES", examples)
			return nil
		},
	})
}

// exitcodeCmd is "exitcode N command args...": run the command and require
// exit status N exactly. CI pipelines branch on 1 (invalid) versus 2 (usage
// or I/O), so "it failed" is not enough.
func exitcodeCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
