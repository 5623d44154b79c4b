package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/diff"
	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/atomicfile"
)

// fmt formats HCL, and HCL JSON (re-indented by encoding/json, which keeps
// every key, its order and every number as written, so nothing is lost).
// YAML is left alone on purpose: re-encoding it would drop its comments
// and layout, which operators would rightly resent.

// fmtOptions are fmt's flags.
type fmtOptions struct {
	check, write, diff, recursive bool
	input                         config.Syntax
}

func runFmt(c *cli.Context) error {
	o := fmtOptions{
		check:     c.Bool("check"),
		write:     c.Bool("w"),
		diff:      c.Bool("diff"),
		recursive: c.Bool("recursive"),
		input:     config.Syntax(c.String("input")),
	}
	switch {
	case c.NArg() == 0:
		return usageErr("fmt: no files given (use - for standard input)")
	case o.check && o.write:
		return usageErr("fmt: -check changes nothing, -w writes: choose one")
	case o.input != config.SyntaxAuto && o.input != config.SyntaxHCL && o.input != config.SyntaxJSON:
		return usageErr("fmt: --input %q: want auto, hcl or json", o.input)
	}
	if err := oneStdin(c); err != nil {
		return err
	}
	code := 0
	worst := func(n int) {
		code = max(code, n)
	}
	for _, arg := range c.Args().Slice() {
		if arg == "-" {
			if o.write {
				worst(exitUsage)
				fmt.Fprintln(c.App.ErrWriter, "ctsync: fmt: -w cannot write back to standard input")
				continue
			}
			worst(fmtOne(c, o, "-"))
			continue
		}
		st, err := os.Stat(arg)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %v\n", err)
			worst(exitUsage)
			continue
		}
		if !st.IsDir() {
			worst(fmtOne(c, o, arg))
			continue
		}
		files, err := hclFiles(arg, o.recursive)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %v\n", err)
			worst(exitUsage)
		}
		for _, f := range files {
			worst(fmtOne(c, o, f))
		}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// hclFiles lists the .hcl files of a directory, and with recursive of its
// subdirectories, in lexical order. Directories whose name starts with a
// dot (.git) are skipped, links to directories are not followed, and other
// extensions are not looked at: a directory also holds YAML variable files
// or legacy configurations, which fmt does not rewrite. Name a .json file
// to format it.
func hclFiles(dir string, recursive bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.EqualFold(filepath.Ext(path), ".hcl") {
			return nil
		}
		// A link to a file is formatted (its target is written); a link
		// to a directory is not followed, so a loop cannot trap the walk.
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// fmtOne formats one file (or standard input for "-") as the flags say and
// returns its exit status. With -check it lists a file that would change,
// and with -diff also shows how, as terraform fmt -check -diff does.
func fmtOne(c *cli.Context, o fmtOptions, path string) int {
	name, src, err := readInput(c, path)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %v\n", err)
		return exitUsage
	}
	syntax := o.input
	if syntax == config.SyntaxAuto {
		var ok bool
		if syntax, ok = config.DetectSyntax(name, src); !ok {
			fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %s: cannot tell the syntax from the file name or its first lines; name it with --input hcl or json\n", name)
			return exitUsage
		}
	}
	var out []byte
	switch syntax {
	case config.SyntaxHCL:
		// Refuse to format what does not parse: the result would be garbage.
		if syntaxErrors(c, name, src, syntax) {
			return exitInvalid
		}
		out = config.FormatHCL(src)
	case config.SyntaxJSON:
		if syntaxErrors(c, name, src, syntax) {
			return exitInvalid
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(src), "", "  "); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "%s: error: %v\n", name, err)
			return exitInvalid
		}
		buf.WriteByte('\n')
		out = buf.Bytes()
	case config.SyntaxYAML:
		fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %s: fmt formats HCL and HCL JSON; YAML is left as written, since re-encoding it would lose its comments and layout\n", name)
		return exitUsage
	default:
		fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %s: fmt formats HCL and HCL JSON, not a legacy conntrackd.conf; convert it to HCL with `ctsync migrate`\n", name)
		return exitUsage
	}

	changed := !bytes.Equal(out, src)
	if o.check && changed {
		fmt.Fprintln(c.App.Writer, name)
	}
	if o.diff && changed {
		if _, err := c.App.Writer.Write(diff.Diff(name+".orig", src, name, out)); err != nil {
			return exitUsage
		}
	}
	switch {
	case o.check:
		if changed {
			return exitInvalid
		}
	case o.write:
		if changed {
			if err := atomicfile.Write(path, out); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "ctsync: fmt: %v\n", err)
				return exitUsage
			}
		}
	case !o.diff:
		if _, err := c.App.Writer.Write(out); err != nil {
			return exitUsage
		}
	}
	return 0
}

// syntaxErrors prints the syntax errors of src, if any. Other problems
// (an unknown attribute, a bad value) are validate's business: fmt formats
// what parses.
func syntaxErrors(c *cli.Context, name string, src []byte, syntax config.Syntax) bool {
	_, diags := config.Parse(name, src, config.LoadOptions{Syntax: syntax})
	broken := false
	for _, d := range diags.Errors() {
		if d.Code == "syntax" || d.Code == "too-deep" || d.Code == "too-complex" {
			fmt.Fprintln(c.App.ErrWriter, d)
			broken = true
		}
	}
	return broken
}
