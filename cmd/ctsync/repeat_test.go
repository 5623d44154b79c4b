package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// repeatCmd is "repeat FILE N TEXT [N TEXT]...": write FILE as each TEXT
// (with \n for a newline) repeated N times, in order. Scripts use it for
// inputs too big or too deep to keep in a txtar archive.
func repeatCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args)%2 != 1 {
		ts.Fatalf("usage: repeat FILE N TEXT [N TEXT]...")
	}
	var b strings.Builder
	for i := 1; i < len(args); i += 2 {
		n, err := strconv.Atoi(args[i])
		if err != nil {
			ts.Fatalf("repeat: %v", err)
		}
		b.WriteString(strings.Repeat(strings.ReplaceAll(args[i+1], `\n`, "\n"), n))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644))
}
