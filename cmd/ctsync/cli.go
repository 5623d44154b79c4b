package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/migrate"
)

// Exit statuses, stable for CI pipelines (documented in README.md).
const (
	exitInvalid = 1 // the configuration is invalid (or fmt -check found a difference)
	exitUsage   = 2 // bad command line, unreadable or unwritable file
)

// exitError carries an exit status; msg is printed unless empty (the
// diagnostics were printed already).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// onUsageError reports a bad flag once, with a one-line hint, instead of
// urfave/cli's full help followed by the error (which scrolls the error
// away and printed it twice).
func onUsageError(c *cli.Context, err error, _ bool) error {
	if c.Command == nil || c.Command.Name == "" || c.Command.Name == c.App.Name {
		return usageErr("%v\nRun 'ctsync --help' for usage.", err)
	}
	name := c.Command.Name
	hint := fmt.Sprintf("Run 'ctsync %s --help' for usage.", name)
	if name == "validate" && strings.Contains(err.Error(), "-json") {
		hint = "Did you mean --format json? " + hint
	} else if s := suggestFlag(c.Command, err); s != "" {
		hint = fmt.Sprintf("Did you mean -%s? %s", s, hint)
	}
	return usageErr("%s: %v\n%s", name, err, hint)
}

// suggestFlag names the flag of cmd nearest to the one err says is not
// defined (-chek → check), by the rule of every other suggestion.
func suggestFlag(cmd *cli.Command, err error) string {
	given, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return ""
	}
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	return config.Suggest(given, names)
}

var (
	varFlag = &cli.StringSliceFlag{Name: "var", Usage: "set a template variable: `NAME=VALUE` (repeatable)"}
	varFile = &cli.StringSliceFlag{Name: "var-file", Usage: "read template variables from `FILE` (HCL, JSON or YAML)"}
	inputFl = &cli.StringFlag{Name: "input", Value: "auto", Usage: "input syntax: auto (by extension, else content), hcl, json, yaml or legacy"}
)

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                      "ctsync",
		Usage:                     "replicate connection-tracking state between Linux firewalls",
		Version:                   version,
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		DisableSliceFlagSeparator: true, // -var 'peers=["a","b"]' must stay whole
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              onUsageError,
		Commands: append([]*cli.Command{
			{
				Name:         "migrate",
				Usage:        "convert a legacy conntrackd.conf into ctsync HCL (or YAML)",
				ArgsUsage:    "LEGACY.conf|-",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "hcl", Usage: "output syntax: hcl or yaml"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically) instead of stdout"},
				},
				Action: runMigrate,
			},
			{
				Name:         "validate",
				Usage:        "check configuration files; exit 0 valid, 1 invalid, 2 usage or I/O error",
				ArgsUsage:    "FILE...|-",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					inputFl, varFlag, varFile,
					&cli.StringFlag{Name: "format", Value: "text", Usage: "diagnostics as text or json"},
					&cli.BoolFlag{Name: "strict", Usage: "treat host-dependent warnings (absent interfaces) as errors"},
				},
				Action: runValidate,
			},
			{
				Name:         "fmt",
				Usage:        "rewrite HCL (and HCL JSON) configuration files in canonical style",
				ArgsUsage:    "FILE|DIR...|-",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "check", Usage: "exit 1 and list files that are not formatted; change nothing"},
					&cli.BoolFlag{Name: "w", Usage: "write the result back to the file instead of stdout"},
					&cli.BoolFlag{Name: "diff", Usage: "show the changes as a unified diff"},
					&cli.BoolFlag{Name: "recursive", Usage: "also format the .hcl files in subdirectories"},
					&cli.StringFlag{Name: "input", Value: "auto", Usage: "input syntax: auto, hcl or json"},
				},
				Action: runFmt,
			},
			{
				Name:         "export",
				Usage:        "write a configuration back as a legacy conntrackd.conf",
				ArgsUsage:    "FILE|-",
				OnUsageError: onUsageError,
				Flags: []cli.Flag{
					inputFl, varFlag, varFile,
					&cli.StringFlag{Name: "format", Value: "legacy", Usage: "output syntax (only legacy)"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically) instead of stdout"},
				},
				Action: runExport,
			},
			labCommand(),
			{
				Name:      "version",
				Usage:     "print the version",
				ArgsUsage: " ",
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageErr("version: takes no arguments")
					}
					cli.VersionPrinter(c)
					return nil
				},
			},
			daemonCommand(),
		}, clientCommands()...),
	}
}

var version = "0.1.0-dev"

// printDiags prints diagnostics, one a line, in the compiler style,
// folded and capped (config.MaxDiagnostics) so that a file repeating one
// mistake 70,000 times prints a screenful, not 70,000 lines.
func printDiags(w io.Writer, ds config.Diagnostics) {
	for _, d := range ds.Fold(config.MaxDiagnostics) {
		fmt.Fprintln(w, d)
	}
}

func runValidate(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErr("validate: no files given (use - for standard input)")
	}
	if err := oneStdin(c); err != nil {
		return err
	}
	asJSON := false
	switch c.String("format") {
	case "text":
	case "json":
		asJSON = true
	default:
		return usageErr("validate: --format %q: want text or json", c.String("format"))
	}
	type fileResult struct {
		File        string             `json:"file"`
		Valid       bool               `json:"valid"`
		Error       string             `json:"error,omitempty"`
		Diagnostics config.Diagnostics `json:"diagnostics"`
	}
	report := struct {
		Schema int          `json:"schema"`
		Valid  bool         `json:"valid"`
		Files  []fileResult `json:"files"`
	}{Schema: 1, Valid: true}
	code := 0
	for _, path := range c.Args().Slice() {
		l := load(c, path, c.Bool("strict"))
		r := fileResult{File: l.name, Diagnostics: l.Diags.Fold(config.MaxDiagnostics)}
		if r.Diagnostics == nil {
			r.Diagnostics = config.Diagnostics{}
		}
		switch {
		case l.ioErr != nil:
			r.Error = l.ioErr.Error()
			code = exitUsage
		case l.Diags.HasErrors():
			if commandLineFault(l.Diags) {
				code = exitUsage
			} else if code == 0 {
				code = exitInvalid
			}
		default:
			r.Valid = true
		}
		report.Valid = report.Valid && r.Valid
		report.Files = append(report.Files, r)
		if asJSON {
			continue
		}
		if l.ioErr != nil {
			fmt.Fprintf(c.App.ErrWriter, "%s: error: %v\n", l.name, l.ioErr)
			continue
		}
		for _, d := range r.Diagnostics { // folded above, as printDiags would
			fmt.Fprintln(c.App.ErrWriter, d)
		}
		if r.Valid {
			fmt.Fprintf(c.App.Writer, "%s: valid (%s)\n", l.name, l.Syntax)
		}
	}
	if asJSON {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(report); err != nil {
			return err
		}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// commandLineFault reports whether the errors include one of the command
// line's (a malformed -var, an unreadable -var-file): the file may be
// fine, the invocation is not, so the status is 2, not 1.
func commandLineFault(ds config.Diagnostics) bool {
	for _, d := range ds.Errors() {
		if d.Code == "usage" || d.Code == "io" {
			return true
		}
	}
	return false
}

func runMigrate(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("migrate: want exactly one legacy file (or - for standard input), got %d", c.NArg())
	}
	format := c.String("format")
	if format != "hcl" && format != "yaml" {
		return usageErr("migrate: --format %q: want hcl or yaml", format)
	}
	name, src, err := readInput(c, c.Args().First())
	if err != nil {
		return usageErr("migrate: %v", err)
	}
	out, diags := migrate.Migrate(name, src, migrate.MigrateOptions{Format: format})
	if diags.HasErrors() {
		if s := ctsyncSyntax(name, src); s != "" {
			// The legacy parser's "unknown keyword \"daemon\"" would baffle.
			return &exitError{code: exitInvalid, msg: fmt.Sprintf(
				"migrate: %s is a ctsync configuration in %s, not a legacy conntrackd.conf; nothing to migrate (check it with ctsync validate)", name, syntaxName[s])}
		}
	}
	printDiags(c.App.ErrWriter, diags)
	if diags.HasErrors() {
		return &exitError{code: exitInvalid, msg: fmt.Sprintf("migrate: %s: not converted, nothing written", name)}
	}
	return writeOutput(c, c.String("output"), out)
}

var syntaxName = map[config.Syntax]string{config.SyntaxHCL: "HCL", config.SyntaxJSON: "HCL JSON", config.SyntaxYAML: "YAML"}

// ctsyncSyntax is the syntax of a ctsync configuration that the extension
// of name or, without one, the first line of src says; "" when neither
// says it is one. A first line "{" is not taken for JSON here: a legacy
// template opens with it too ({% if %}), and its error says more.
func ctsyncSyntax(name string, src []byte) config.Syntax {
	if s, named := config.DetectSyntax(name, nil); named {
		if s == config.SyntaxLegacy {
			return ""
		}
		return s
	}
	if s, ok := config.DetectSyntax(name, src); ok && (s == config.SyntaxHCL || s == config.SyntaxYAML) {
		return s
	}
	return ""
}

func runExport(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("export: want exactly one file (or - for standard input), got %d", c.NArg())
	}
	if f := c.String("format"); f != "legacy" {
		return usageErr("export: --format %q: only legacy is supported", f)
	}
	l := load(c, c.Args().First(), false)
	if l.ioErr != nil {
		return usageErr("export: %v", l.ioErr)
	}
	printDiags(c.App.ErrWriter, l.Diags)
	if l.Diags.HasErrors() {
		code := exitInvalid
		if commandLineFault(l.Diags) {
			code = exitUsage
		}
		return &exitError{code: code, msg: "export: invalid configuration, nothing written"}
	}
	var buf bytes.Buffer
	ediags, err := migrate.Export(&buf, l.File)
	printDiags(c.App.ErrWriter, ediags)
	if err != nil {
		return usageErr("export: %v", err)
	}
	if ediags.HasErrors() {
		return &exitError{code: exitInvalid, msg: "export: cannot be expressed as conntrackd.conf, nothing written"}
	}
	return writeOutput(c, c.String("output"), buf.Bytes())
}

// writeOutput writes a command's result to stdout, or with -o FILE
// atomically to FILE (see internal/atomicfile: owner, group, mode and
// symlinks are kept).
func writeOutput(c *cli.Context, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := c.App.Writer.Write(data)
		return err
	}
	if err := atomicfile.Write(path, data); err != nil {
		return usageErr("%s: %v", c.Command.Name, err)
	}
	return nil
}

// interspersed lets flags follow the file names (`ctsync migrate old.conf
// -o new.hcl`), which operators and scripts write and urfave/cli v2 does
// not parse: Go's flag package stops at the first non-flag. It moves each
// subcommand flag (with its value, for flags that take one) in front of the
// positional arguments; "--" ends flags as usual.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] {
			if i+1 == len(rest) {
				// A flag missing its value: put it last, before any
				// positional argument could be taken for the value, so
				// that the parser says "flag needs an argument".
				return append([]string{args[0], args[1]}, flags...)
			}
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}
