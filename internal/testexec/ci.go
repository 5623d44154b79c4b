package testexec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Provided reads the commands a CI script installs: the block
//
//	provides="
//	COMMAND DEBIAN-PACKAGE
//	...
//	"
//
// of .ci/test, which installs each package whose command is missing. It
// returns the package of each command.
func Provided(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	cmds := map[string]string{}
	in, closed := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == `provides="`:
			in = true
		case !in:
		case line == `"`:
			in, closed = false, true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, fmt.Errorf("%s:%d:1: want \"COMMAND PACKAGE\" in provides, got %q", file, n, line)
			}
			if _, dup := cmds[f[0]]; dup {
				return nil, fmt.Errorf("%s:%d:1: command %s listed twice in provides", file, n, f[0])
			}
			cmds[f[0]] = f[1]
		}
	}
	if !closed {
		return nil, fmt.Errorf("%s: no provides=\"...\" block listing COMMAND PACKAGE lines", file)
	}
	return cmds, nil
}
