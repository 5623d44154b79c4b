package migrate

import (
	"strings"

	"github.com/ctsync/ctsync/config"
)

// LoadOptions say how to read a configuration and how to judge it.
type LoadOptions struct {
	// Syntax of the source; config.SyntaxAuto detects it from the name and
	// content (config.DetectSyntax).
	Syntax config.Syntax
	// Template feeds HCL variables (-var, -var-file, the environment); its
	// Syntax field is ignored.
	Template config.LoadOptions
	// Dialect is how a legacy file is read: Dialect147 judges it as
	// conntrackd 1.4.7 does (validate), DialectLenient takes what any 1.4
	// release took (migrate).
	Dialect Dialect
	// AsConntrackd applies to legacy input: the model's errors on a file
	// that conntrackd accepts become warnings, because conntrackd accepts
	// the file and only fails (or ignores the setting) when it starts.
	// Strict keeps them errors. Without AsConntrackd they are errors:
	// migrate never writes a file that ctsync would refuse.
	AsConntrackd bool
	// Strict makes host-dependent warnings errors (config.ValidateOptions).
	Strict bool
	// InterfaceExists looks up network interfaces; nil asks the host.
	InterfaceExists func(name string) bool
}

// Loaded is a configuration read and judged by Load.
type Loaded struct {
	// Syntax is the syntax the source was read as.
	Syntax config.Syntax
	// File is the model, nil when the source could not be decoded.
	File *config.File
	// Runtime is the validated model with defaults applied; valid only
	// when Diags has no errors.
	Runtime config.Runtime
	// Comments are a legacy file's comments, keyed for the writers.
	Comments config.Comments
	// Diags are all diagnostics, in the order of the stages.
	Diags config.Diagnostics
	// LegacyDiags are the diagnostics about the legacy text itself
	// (parsing and conversion), which migrate carries into its output.
	LegacyDiags config.Diagnostics
}

// Load is the one pipeline from source text to a checked model, for every
// syntax: parse (for a legacy file, then convert), then validate. A stage
// runs only when the previous one found no error, so one typo does not
// drown in follow-on errors. When a later stage says more about a position
// an earlier one warned about, the later word is kept (config.Supersede).
func Load(filename string, src []byte, opts LoadOptions) Loaded {
	syntax := opts.Syntax
	if syntax == "" || syntax == config.SyntaxAuto {
		var ok bool
		if syntax, ok = config.DetectSyntax(filename, src); !ok {
			// config.Parse words the diagnostic.
			syntax = config.SyntaxAuto
		}
	}
	l := Loaded{Syntax: syntax}
	vopts := config.ValidateOptions{Strict: opts.Strict, InterfaceExists: opts.InterfaceExists}
	if syntax != config.SyntaxLegacy {
		topts := opts.Template
		topts.Syntax = syntax
		l.File, l.Diags = config.Parse(filename, src, topts)
		if l.Diags.HasErrors() || l.File == nil {
			return l
		}
		var vds config.Diagnostics
		l.Runtime, vds = config.Validate(l.File, vopts)
		l.Diags = append(l.Diags, vds...)
		return l
	}

	lf, pds := Parse(filename, src, Options{Dialect: opts.Dialect, InterfaceExists: opts.InterfaceExists})
	l.Diags = pds
	if pds.HasErrors() {
		return l
	}
	f, comments, cds := Convert(lf)
	l.File, l.Comments = f, comments
	l.LegacyDiags = config.Supersede(pds, cds)
	if cds.HasErrors() && !opts.AsConntrackd {
		l.Diags = l.LegacyDiags
		return l
	}
	var vds config.Diagnostics
	l.Runtime, vds = config.Validate(f, vopts)
	later := config.Supersede(cds, vds)
	if opts.AsConntrackd {
		later = startupWarnings(later, opts.Strict)
	}
	l.Diags = config.Supersede(pds, later)
	return l
}

// startupWarnings turns the model's errors on a converted legacy file into
// warnings: conntrackd accepts the file, and only fails when it starts.
// With strict they stay errors.
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
