package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/migrate"
)

// stdinName is how diagnostics name standard input ("-" on the command
// line), as compilers do.
const stdinName = "<stdin>"

// readInput reads a command's input file, or standard input for "-". It
// is the one place where input is read, so that a limit on its size
// applies to every command. The name it returns is the one diagnostics use.
func readInput(c *cli.Context, path string) (name string, src []byte, err error) {
	if path == "-" {
		src, err = config.ReadInput(stdinName, c.App.Reader)
		if err != nil {
			return stdinName, nil, fmt.Errorf("reading standard input: %w", err)
		}
		return stdinName, src, nil
	}
	src, err = config.ReadFile(path)
	return path, src, err
}

// oneStdin refuses "-" given twice: standard input can be read once.
func oneStdin(c *cli.Context) error {
	n := 0
	for _, a := range c.Args().Slice() {
		if a == "-" {
			n++
		}
	}
	if n > 1 {
		return usageErr("%s: - (standard input) given %d times", c.Command.Name, n)
	}
	return nil
}

// loaded is one input read and judged by migrate.Load, or the reason it
// could not be read.
type loaded struct {
	migrate.Loaded
	name  string // as diagnostics name it: the path, or <stdin>
	ioErr error
}

// load reads one input in the syntax --input names (auto: from the name,
// else the content) and judges it, through the one pipeline that migrate
// also uses. Legacy files are judged as conntrackd 1.4.7 judges them.
func load(c *cli.Context, path string, strict bool) loaded {
	name, src, err := readInput(c, path)
	l := loaded{name: name}
	if err != nil {
		l.ioErr = err
		return l
	}
	syntax := config.Syntax(c.String("input"))
	switch syntax {
	case config.SyntaxAuto:
		var ok bool
		if syntax, ok = config.DetectSyntax(name, src); !ok {
			l.ioErr = fmt.Errorf("cannot tell the syntax from the file name or its first lines; name it with --input hcl, json, yaml or legacy")
			return l
		}
	case config.SyntaxHCL, config.SyntaxJSON, config.SyntaxYAML, config.SyntaxLegacy:
	default:
		l.ioErr = fmt.Errorf("--input %q: want auto, hcl, json, yaml or legacy", syntax)
		return l
	}
	vars, varFiles := c.StringSlice("var"), c.StringSlice("var-file")
	if syntax == config.SyntaxLegacy && len(vars)+len(varFiles) > 0 {
		// Ignoring them would let a wrong invocation pass in silence.
		l.ioErr = fmt.Errorf("-var and -var-file set template variables, which a legacy conntrackd.conf does not have")
		return l
	}
	l.Loaded = migrate.Load(name, src, migrate.LoadOptions{
		Syntax: syntax,
		Template: config.LoadOptions{
			Vars:     vars,
			VarFiles: varFiles,
			Environ:  os.Environ(),
		},
		Dialect:      migrate.Dialect147,
		AsConntrackd: true,
		Strict:       strict,
	})
	return l
}
