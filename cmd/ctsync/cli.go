package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
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

func asExit(err error, target **exitError) bool { return errors.As(err, target) }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

var (
	varFlag = &cli.StringSliceFlag{Name: "var", Usage: "set a template variable: `NAME=VALUE` (repeatable)"}
	varFile = &cli.StringSliceFlag{Name: "var-file", Usage: "read template variables from `FILE` (HCL, JSON or YAML)"}
	inputFl = &cli.StringFlag{Name: "input", Value: "auto", Usage: "input syntax: auto, hcl, json, yaml or legacy"}
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
		Commands: []*cli.Command{
			{
				Name:      "migrate",
				Usage:     "convert a legacy conntrackd.conf into ctsync HCL (or YAML)",
				ArgsUsage: "LEGACY.conf",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "hcl", Usage: "output syntax: hcl or yaml"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically) instead of stdout"},
				},
				Action: runMigrate,
			},
			{
				Name:      "validate",
				Usage:     "check configuration files; exit 0 valid, 1 invalid, 2 usage or I/O error",
				ArgsUsage: "FILE...",
				Flags: []cli.Flag{
					inputFl, varFlag, varFile,
					&cli.StringFlag{Name: "format", Value: "text", Usage: "diagnostics as text or json"},
					&cli.BoolFlag{Name: "strict", Usage: "treat host-dependent warnings (absent interfaces) as errors"},
				},
				Action: runValidate,
			},
			{
				Name:      "fmt",
				Usage:     "rewrite HCL configuration files in canonical style",
				ArgsUsage: "FILE...",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "check", Usage: "exit 1 and list files that are not formatted; change nothing"},
					&cli.BoolFlag{Name: "w", Usage: "write the result back to the file instead of stdout"},
				},
				Action: runFmt,
			},
			{
				Name:      "export",
				Usage:     "write a configuration back as a legacy conntrackd.conf",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					inputFl, varFlag, varFile,
					&cli.StringFlag{Name: "format", Value: "legacy", Usage: "output syntax (only legacy)"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically) instead of stdout"},
				},
				Action: runExport,
			},
		},
	}
}

var version = "0.1.0-dev"

// loaded is one input file after parsing and validation.
type loaded struct {
	path   string
	file   *config.File
	diags  config.Diagnostics
	ioErr  error
	format config.Syntax
}

// load reads path in the given syntax (auto: by extension) and validates it.
// Legacy files are judged as conntrackd 1.4.7 judges them; the model checks
// then add what conntrackd would only find at start-up, as warnings, because
// conntrackd accepts such a file.
func load(c *cli.Context, path string, strict bool) loaded {
	format := config.Syntax(c.String("input"))
	switch format {
	case config.SyntaxAuto:
		format = config.DetectSyntax(path)
	case config.SyntaxHCL, config.SyntaxJSON, config.SyntaxYAML, config.SyntaxLegacy:
	default:
		return loaded{path: path, ioErr: fmt.Errorf("--input %q: want auto, hcl, json, yaml or legacy", format)}
	}
	src, err := config.ReadFile(path)
	if err != nil {
		return loaded{path: path, ioErr: err}
	}
	l := loaded{path: path, format: format}
	vopts := config.ValidateOptions{Strict: strict}
	if format == config.SyntaxLegacy {
		lf, diags := migrate.Parse(path, src, migrate.Options{Dialect: migrate.Dialect147})
		l.diags = diags
		if diags.HasErrors() {
			return l
		}
		file, _, cdiags := migrate.Convert(lf)
		l.file = file
		_, vdiags := config.Validate(file, vopts)
		later := startupWarnings(config.Supersede(cdiags, vdiags), strict)
		l.diags = config.Supersede(l.diags, later)
		return l
	}
	file, diags := config.Parse(path, src, config.LoadOptions{
		Syntax:   format,
		Vars:     c.StringSlice("var"),
		VarFiles: c.StringSlice("var-file"),
		Environ:  os.Environ(),
	})
	l.file, l.diags = file, diags
	if diags.HasErrors() {
		return l
	}
	_, vdiags := config.Validate(file, vopts)
	l.diags = append(l.diags, vdiags...)
	return l
}

// startupWarnings turns the model's errors on a converted legacy file into
// warnings: conntrackd accepts the file, and only fails when it starts.
// With --strict they stay errors.
func startupWarnings(ds config.Diagnostics, strict bool) config.Diagnostics {
	out := make(config.Diagnostics, 0, len(ds))
	for _, d := range ds {
		if d.Severity == config.Error && !strict {
			d.Severity = config.Warning
			d.Detail = strings.TrimPrefix(d.Detail+"; conntrackd accepts the file but this fails at start-up or is ignored", "; ")
		}
		out = append(out, d)
	}
	return out
}

func runValidate(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErr("validate: no files given")
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
		r := fileResult{File: path, Diagnostics: l.diags.Fold(config.MaxDiagnostics)}
		if r.Diagnostics == nil {
			r.Diagnostics = config.Diagnostics{}
		}
		switch {
		case l.ioErr != nil:
			r.Error = l.ioErr.Error()
			code = exitUsage
		case l.diags.HasErrors():
			if code == 0 {
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
			fmt.Fprintf(c.App.ErrWriter, "%s: error: %v\n", path, l.ioErr)
			continue
		}
		for _, d := range r.Diagnostics {
			fmt.Fprintln(c.App.ErrWriter, d)
		}
		if r.Valid {
			fmt.Fprintf(c.App.Writer, "%s: valid (%s)\n", path, l.format)
		}
	}
	if asJSON {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func runMigrate(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("migrate: want exactly one legacy file, got %d", c.NArg())
	}
	path := c.Args().First()
	format := c.String("format")
	if format != "hcl" && format != "yaml" {
		return usageErr("migrate: --format %q: want hcl or yaml", format)
	}
	src, err := config.ReadFile(path)
	if err != nil {
		return usageErr("migrate: %v", err)
	}
	out, diags := migrate.Migrate(path, src, migrate.MigrateOptions{Format: format})
	for _, d := range diags.Fold(config.MaxDiagnostics) {
		fmt.Fprintln(c.App.ErrWriter, d)
	}
	if diags.HasErrors() {
		return &exitError{code: exitInvalid, msg: fmt.Sprintf("migrate: %s: not converted, nothing written", path)}
	}
	return writeOutput(c, c.String("output"), out)
}

func runExport(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("export: want exactly one file, got %d", c.NArg())
	}
	if f := c.String("format"); f != "legacy" {
		return usageErr("export: --format %q: only legacy is supported", f)
	}
	l := load(c, c.Args().First(), false)
	if l.ioErr != nil {
		return usageErr("export: %v", l.ioErr)
	}
	for _, d := range l.diags.Fold(config.MaxDiagnostics) {
		fmt.Fprintln(c.App.ErrWriter, d)
	}
	if l.diags.HasErrors() {
		return &exitError{code: exitInvalid, msg: "export: invalid configuration, nothing written"}
	}
	var buf bytes.Buffer
	ediags, err := migrate.Export(&buf, l.file)
	for _, d := range ediags.Fold(config.MaxDiagnostics) {
		fmt.Fprintln(c.App.ErrWriter, d)
	}
	if err != nil {
		return usageErr("export: %v", err)
	}
	if ediags.HasErrors() {
		return &exitError{code: exitInvalid, msg: "export: cannot be expressed as conntrackd.conf, nothing written"}
	}
	return writeOutput(c, c.String("output"), buf.Bytes())
}

func runFmt(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErr("fmt: no files given")
	}
	code := 0
	for _, path := range c.Args().Slice() {
		if f := config.DetectSyntax(path); f != config.SyntaxHCL {
			return usageErr("fmt: %s: fmt rewrites HCL native syntax (.hcl); use `ctsync migrate` for legacy files", path)
		}
		src, err := config.ReadFile(path)
		if err != nil {
			return usageErr("fmt: %v", err)
		}
		// Refuse to format what does not parse: the result would be garbage.
		if _, diags := config.Parse(path, src, config.LoadOptions{Syntax: config.SyntaxHCL}); diags.HasErrors() {
			broken := false
			for _, d := range diags.Errors() {
				if d.Code == "syntax" || d.Code == "too-deep" || d.Code == "too-complex" {
					fmt.Fprintln(c.App.ErrWriter, d)
					broken = true
				}
			}
			if broken {
				code = exitInvalid
				continue
			}
		}
		out := config.FormatHCL(src)
		switch {
		case c.Bool("check"):
			if !bytes.Equal(out, src) {
				fmt.Fprintln(c.App.Writer, path)
				code = exitInvalid
			}
		case c.Bool("w"):
			if !bytes.Equal(out, src) {
				if err := writeAtomic(path, out); err != nil {
					return usageErr("fmt: %v", err)
				}
			}
		default:
			if _, err := c.App.Writer.Write(out); err != nil {
				return err
			}
		}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func writeOutput(c *cli.Context, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := c.App.Writer.Write(data)
		return err
	}
	if err := writeAtomic(path, data); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

// writeAtomic replaces path in one step, so a reader (or a crash) never sees
// half a configuration.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
				return args // a flag missing its value: let the parser say so
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
