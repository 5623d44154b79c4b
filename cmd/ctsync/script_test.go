package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// The CLI is tested end to end with txtar scripts in testdata/script: each
// runs the real command (exit codes, stdout, stderr, files written), the way
// an operator or a CI pipeline does.
func TestMain(m *testing.M) {
	// Run through a symlink named conntrackd (legacySymlink), the test
	// binary is ctsync's legacy command line. It is not one of
	// testscript's commands, which would put it first in $PATH and hide
	// the real conntrackd from the tests that compare with it.
	if filepath.Base(os.Args[0]) == legacyName {
		testMain()
	}
	testscript.Main(m, map[string]func(){"ctsync": testMain})
}

// testMain is the command in the scripts: ctsync, or conntrackd.
func testMain() {
	// The daemon's scripts run it on a fake engine and a
	// kernel that has, or has not, the helper subsystem.
	if os.Getenv("CTSYNC_TEST_ENGINE") != "" {
		openEngine = openFakeEngine
	}
	switch os.Getenv("CTSYNC_TEST_HELPERS") {
	case "absent":
		helperSubsystem = func() error { return fmt.Errorf("fake: %w", ctnl.ErrNoHelperSubsystem) }
	case "present":
		helperSubsystem = func() error { return nil }
	}
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
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
			"chown":    chownCmd,
			"owner":    ownerCmd,
			"perm":     permCmd,
			"repeat":   repeatCmd,
			"waitfor":  waitforCmd,
			"signal":   signalCmd,
			"envsubst": envsubstCmd,
			"sched":    schedCmd,
			"sdnotify": sdnotifyCmd,
			"fifo":     fifoCmd,
			"http":     httpCmd,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			// The bundled examples, read-only, for scripts that use them.
			env.Setenv("EXAMPLES", examples)
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("METRICS_PORT", port)
			// A daemon that conntrackd -d left in the background is
			// stopped even when its script fails before conntrackd -k.
			env.Defer(func() { stopDetached(env.WorkDir) })
			// $LEGACYBIN holds conntrackd, a symlink to ctsync:
			// scripts put it first in $PATH to run conntrackd's
			// command line.
			return legacySymlink(env)
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

// chownCmd is "chown UID:GID FILE" (numeric ids, as root).
func chownCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: chown UID:GID file")
	}
	uid, gid := ids(ts, args[0])
	ts.Check(os.Chown(ts.MkAbs(args[1]), uid, gid))
}

// ownerCmd is "owner FILE UID:GID": the file (not a link) has that owner
// and group. Rewriting a configuration must not take it away from the
// group a daemon reads it through.
func ownerCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: owner file UID:GID")
	}
	st, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	sys := st.Sys().(*syscall.Stat_t)
	got := fmt.Sprintf("%d:%d", sys.Uid, sys.Gid)
	if (got == args[1]) == neg {
		ts.Fatalf("%s is owned by %s, want %s%s", args[0], got, map[bool]string{true: "not "}[neg], args[1])
	}
}

// permCmd is "perm FILE MODE" (octal): the file's permission bits.
func permCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm file MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	st, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if (got == fs.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %v, want %v", args[0], got, fs.FileMode(want))
	}
}

func ids(ts *testscript.TestScript, s string) (int, int) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		ts.Fatalf("want numeric UID:GID, got %q", s)
	}
	return uid, gid
}
