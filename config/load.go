package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// Syntax is a configuration syntax.
type Syntax string

// The syntaxes ctsync reads. Legacy conntrackd.conf is read by package
// migrate, which produces the same File.
const (
	SyntaxAuto   Syntax = "auto"
	SyntaxHCL    Syntax = "hcl"
	SyntaxJSON   Syntax = "json"
	SyntaxYAML   Syntax = "yaml"
	SyntaxLegacy Syntax = "legacy"
)

// DetectSyntax guesses a file's syntax from its name: .hcl, .json, .yaml or
// .yml; .conf and anything else is taken as a legacy conntrackd.conf.
func DetectSyntax(filename string) Syntax {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".hcl", ".ctsync":
		return SyntaxHCL
	case ".json":
		return SyntaxJSON
	case ".yaml", ".yml":
		return SyntaxYAML
	}
	return SyntaxLegacy
}

// LoadOptions feed templating.
type LoadOptions struct {
	// Syntax of the source; SyntaxAuto detects it from the file name.
	Syntax Syntax
	// Vars are -var name=value settings, applied last (they win).
	Vars []string
	// VarFiles are -var-file paths (HCL "name = value" files, or .json).
	VarFiles []string
	// Environ is the environment searched for CTSYNC_VAR_<name>; nil means none.
	Environ []string
}

// EnvVarPrefix marks environment variables that set template variables.
const EnvVarPrefix = "CTSYNC_VAR_"

// Parse reads one configuration source into the syntax model: parse, then
// evaluate variables, functions and dynamic blocks, then decode. It does not
// validate (see Validate). Syntax errors stop before decoding, so that one
// typo does not drown in follow-on errors.
func Parse(filename string, src []byte, opts LoadOptions) (*File, Diagnostics) {
	format := opts.Syntax
	if format == "" || format == SyntaxAuto {
		format = DetectSyntax(filename)
	}
	if ds := CheckNesting(filename, src, format); ds != nil {
		return nil, ds
	}
	var (
		body  hcl.Body
		diags Diagnostics
		work  = &budget{left: MaxTemplateWork}
	)
	switch format {
	case SyntaxHCL:
		f, hds := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		diags = FromHCL(hds)
		if f != nil {
			body = f.Body
			if sb, ok := body.(*hclsyntax.Body); ok {
				boundLoops(sb, work)
			}
		}
	case SyntaxJSON:
		f, hds := hcljson.Parse(src, filename)
		diags = FromHCL(hds)
		if f != nil {
			body = jsonBody{f.Body, work}
		}
	case SyntaxYAML:
		body, diags = ParseYAML(filename, src)
	default:
		diags = append(diags, Diagnostic{Pos: Pos{File: filename}, Severity: Error, Code: "format",
			Message: fmt.Sprintf("config.Parse cannot read %s input", format)})
	}
	if diags.HasErrors() || body == nil {
		return nil, diags
	}

	ctx, vds := evalContext(body, opts, work)
	diags = append(diags, vds...)
	if vds.HasErrors() {
		return nil, diags
	}
	var file File
	diags = append(diags, decodeBody(dynblock.Expand(body, ctx), ctx, &file)...)
	return &file, diags
}

// Load reads and parses a file. I/O errors are returned as error, problems in
// the content as Diagnostics.
func Load(path string, opts LoadOptions) (*File, Diagnostics, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	f, diags := Parse(path, src, opts)
	return f, diags, nil
}

// evalContext collects the declared variables and their values: a
// variable's default, then CTSYNC_VAR_<name>, then each -var-file in order,
// then each -var (the last one written wins, as in Terraform).
func evalContext(body hcl.Body, opts LoadOptions, work *budget) (*hcl.EvalContext, Diagnostics) {
	var diags Diagnostics
	content, _, _ := body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
	})
	vals := map[string]cty.Value{}
	declared := map[string]*hcl.Block{}
	if content != nil {
		for _, b := range content.Blocks {
			name := b.Labels[0]
			if prev, dup := declared[name]; dup {
				diags.Errorf(b.DefRange, "duplicate", "duplicate variable %q", name)
				diags[len(diags)-1].Detail = "first declared at " + PosOf(prev.DefRange).String()
				continue
			}
			declared[name] = b
			attrs, hds := b.Body.JustAttributes()
			diags = append(diags, FromHCL(hds)...)
			if a, ok := attrs["default"]; ok {
				v, hds := a.Expr.Value(nil)
				diags = append(diags, FromHCL(hds)...)
				vals[name] = v
			}
		}
	}

	given := map[string]string{} // name -> where it was set, for messages
	set := func(name string, v cty.Value, where string) {
		vals[name] = v
		given[name] = where
	}
	for _, kv := range opts.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvVarPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, EnvVarPrefix)
		rv, rds := rawValue(v, work)
		diags = append(diags, rds...)
		set(name, rv, "environment variable "+k)
	}
	for _, path := range opts.VarFiles {
		fv, fds := readVarFile(path, work)
		diags = append(diags, fds...)
		for name, v := range fv {
			set(name, v, "-var-file "+path)
		}
	}
	for _, kv := range opts.Vars {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, Diagnostic{Severity: Error, Code: "variable",
				Message: fmt.Sprintf("-var %q: want name=value with a valid name", kv)})
			continue
		}
		rv, rds := rawValue(v, work)
		diags = append(diags, rds...)
		set(name, rv, "-var")
	}

	names := make([]string, 0, len(declared))
	for name := range declared {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := vals[name]; !ok {
			diags.Errorf(declared[name].DefRange, "variable", "variable %q has no value", name)
			diags[len(diags)-1].Detail = fmt.Sprintf("set it with -var %s=VALUE, a -var-file, or %s%s", name, EnvVarPrefix, name)
		}
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vals)},
		Functions: boundedFunctions(work),
	}, diags
}

// rawValue reads a -var or environment value. Lists and objects are written
// as HCL expressions; anything else is a string, which HCL converts to the
// number or boolean an attribute needs. An expression refused by the
// template limit is an error, not a string.
func rawValue(s string, work *budget) (cty.Value, Diagnostics) {
	t := strings.TrimSpace(s)
	if (strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{")) && checkExprNesting("-var", []byte(t)) == nil {
		expr, hds := hclsyntax.ParseExpression([]byte(t), "-var", hcl.InitialPos)
		if !hds.HasErrors() {
			boundLoops(expr, work)
			v, hds := expr.Value(nil)
			if !hds.HasErrors() {
				return v, nil
			}
			for _, h := range hds {
				if isTemplateLimit(h) {
					return cty.DynamicVal, FromHCL(hds)
				}
			}
		}
	}
	return cty.StringVal(s), nil
}

func readVarFile(path string, work *budget) (map[string]cty.Value, Diagnostics) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Pos: Pos{File: path}, Severity: Error, Code: "io",
			Message: fmt.Sprintf("-var-file: %v", err)}}
	}
	syntax := DetectSyntax(path)
	if syntax != SyntaxJSON && syntax != SyntaxYAML {
		syntax = SyntaxHCL
	}
	if ds := CheckNesting(path, src, syntax); ds != nil {
		return nil, ds
	}
	var (
		f   *hcl.File
		hds hcl.Diagnostics
	)
	switch syntax {
	case SyntaxJSON:
		f, hds = hcljson.Parse(src, path)
	case SyntaxYAML:
		body, yds := ParseYAML(path, src)
		if yds.HasErrors() || body == nil {
			return nil, yds
		}
		f = &hcl.File{Body: body}
	default:
		f, hds = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
		if f != nil {
			if sb, ok := f.Body.(*hclsyntax.Body); ok {
				boundLoops(sb, work)
			}
		}
	}
	diags := FromHCL(hds)
	if f == nil || hds.HasErrors() {
		return nil, diags
	}
	attrs, hds := f.Body.JustAttributes()
	diags = append(diags, FromHCL(hds)...)
	out := map[string]cty.Value{}
	for name, a := range attrs {
		v, hds := a.Expr.Value(nil)
		diags = append(diags, FromHCL(hds)...)
		out[name] = v
	}
	return out, diags
}
