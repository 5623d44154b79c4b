package migrate

import (
	"bytes"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ctsync/ctsync/config"
)

// MigrateOptions choose the output syntax and how interfaces are looked up.
type MigrateOptions struct {
	// Format is "hcl" (the default) or "yaml".
	Format string
	// InterfaceExists reports whether a network interface exists on this
	// host; nil looks it up. Tests set it so results do not depend on the
	// machine.
	InterfaceExists func(name string) bool
}

// Migrate converts a legacy conntrackd.conf into ctsync's HCL ("hcl") or
// YAML ("yaml"). It reads the file as kindly as conntrackd 1.4.0 to 1.4.9
// together would (DialectLenient), converts it, and validates the result:
// migrate never emits a file that ctsync would refuse. The diagnostics say
// everything worth telling; when one is an error the output is nil.
//
// Warnings about the legacy file (deprecated, removed or ignored options,
// grammar quirks) also go into the output, as a comment block at the top,
// so they stay with the file after the terminal is gone. Host-dependent
// warnings (an interface absent on this machine) do not.
func Migrate(filename string, src []byte, opts MigrateOptions) ([]byte, config.Diagnostics) {
	format := opts.Format
	l := Load(filename, src, LoadOptions{Syntax: config.SyntaxLegacy, Dialect: DialectLenient, InterfaceExists: opts.InterfaceExists})
	diags, comments, carried := l.Diags, l.Comments, l.LegacyDiags
	if diags.HasErrors() {
		return nil, diags
	}
	f := l.File

	header := config.Comment{Lead: []string{fmt.Sprintf("Migrated from %s by ctsync migrate.", filepath.Base(filename))}}
	if old, ok := comments[""]; ok {
		if len(old.Lead) > 0 {
			header.Lead = append(header.Lead, "")
		}
		header.Lead = append(header.Lead, old.Lead...)
		header.Foot = old.Foot
	}
	var kept config.Diagnostics
	for _, d := range carried {
		if d.Code == "interface-absent" || d.Code == "unknown-interface" {
			continue // true of this host, not of the file
		}
		d.Pos.File = filepath.Base(d.Pos.File)
		kept = append(kept, d)
	}
	if len(kept) > 0 {
		header.Lead = append(header.Lead, "", "Warnings:")
		// Folded as on stderr: 70,000 repeats of one warning are one line.
		for _, d := range kept.Fold(config.MaxDiagnostics) {
			header.Lead = append(header.Lead, "  "+d.String())
		}
	}
	comments[""] = header

	var buf bytes.Buffer
	var err error
	switch format {
	case "yaml":
		err = config.WriteYAML(&buf, f, comments)
	default:
		err = config.WriteHCL(&buf, f, comments)
	}
	if err != nil {
		diags = append(diags, config.Diagnostic{Pos: config.Pos{File: filename}, Severity: config.Error, Code: "internal",
			Message: fmt.Sprintf("writing %s: %v", format, err)})
		return nil, diags
	}
	return buf.Bytes(), diags
}

func secondsDur(n int64) time.Duration { return time.Duration(n) * time.Second }
