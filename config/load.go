package config

import (
	"fmt"
	"sort"
	"strconv"
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

// LoadOptions feed templating.
type LoadOptions struct {
	// Syntax of the source; SyntaxAuto detects it (DetectSyntax).
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
		var ok bool
		if format, ok = DetectSyntax(filename, src); !ok {
			return nil, Diagnostics{{Pos: Pos{File: filename}, Severity: Error, Code: "format",
				Message: "cannot tell the syntax from the file name or its content"}}
		}
	}
	source := &Source{Name: filename, Text: src}
	work := &budget{left: MaxTemplateWork}
	body, diags := parseBody(filename, src, format, work)
	if diags.HasErrors() || body == nil {
		diags.AttachSource(source)
		return nil, diags
	}

	ctx, vds := evalContext(filename, body, opts, work)
	diags = append(diags, vds...)
	if vds.HasErrors() {
		declareIn(format, diags)
		diags.AttachSource(source)
		return nil, diags
	}
	file := File{Syntax: format, Source: source}
	diags = append(diags, decodeBody(dynblock.Expand(body, ctx), ctx, &file)...)
	declareIn(format, diags)
	diags.AttachSource(source)
	return &file, diags
}

// parseBody parses src, written in syntax s, into a body whose templates
// are charged to work, after checkNesting has refused what would exhaust
// the parsers' stack. It is the one parse of both a configuration (Parse)
// and a -var-file (readVarFile).
func parseBody(filename string, src []byte, s Syntax, work *budget) (hcl.Body, Diagnostics) {
	if ds := checkNesting(filename, src, s); ds != nil {
		return nil, ds
	}
	switch s {
	case SyntaxHCL:
		f, hds := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		if f == nil {
			return nil, FromHCL(hds)
		}
		if sb, ok := f.Body.(*hclsyntax.Body); ok {
			boundLoops(sb, work)
		}
		return f.Body, FromHCL(hds)
	case SyntaxJSON:
		f, hds := hcljson.Parse(src, filename)
		if f == nil {
			return nil, FromHCL(hds)
		}
		return jsonBody{f.Body, work}, FromHCL(hds)
	case SyntaxYAML:
		return ParseYAML(filename, src)
	}
	return nil, Diagnostics{{Pos: Pos{File: filename}, Severity: Error, Code: "format",
		Message: fmt.Sprintf("config.Parse cannot read %s input", s)}}
}

// declareIn rewrites the hints that show how to declare a variable, written
// in HCL where the syntax is not known (FromHCL), into syntax s: a JSON
// file declares it in JSON, and a YAML file cannot use one, its values
// being literal.
func declareIn(s Syntax, diags Diagnostics) {
	if s != SyntaxJSON && s != SyntaxYAML {
		return
	}
	for i, d := range diags {
		rest, ok := strings.CutPrefix(d.Detail, "declare it with variable ")
		if d.Code != "variable" || !ok {
			continue
		}
		name, err := strconv.Unquote(strings.TrimSuffix(rest, " {}"))
		if err != nil {
			continue
		}
		if s == SyntaxJSON {
			diags[i].Detail = fmt.Sprintf(`declare it with "variable": {%q: {}}`, name)
		} else {
			diags[i].Detail = "YAML values are literal: -var, -var-file and " + EnvVarPrefix + "NAME set the variables of HCL and HCL JSON files"
		}
	}
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
//
// Setting a variable the file does not declare is a typo until proven
// otherwise, so, as Terraform does, it is an error for -var and -var-file
// and a warning for the environment (which may be set for other files).
// A malformed -var is a usage error (code "usage") and an unreadable
// -var-file an I/O error (code "io"): the command line is wrong, not the
// file.
func evalContext(filename string, body hcl.Body, opts LoadOptions, work *budget) (*hcl.EvalContext, Diagnostics) {
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
				diags.Errorf(b.DefRange, "duplicate", "first declared at "+PosOf(prev.DefRange).String(), "duplicate variable %q", name)
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
	names := make([]string, 0, len(declared))
	for name := range declared {
		names = append(names, name)
	}
	sort.Strings(names)
	undeclared := func(pos Pos, sev Severity, via, name string) Diagnostic {
		d := Diagnostic{Pos: pos, Severity: sev, Code: "variable",
			Message: fmt.Sprintf("%s sets undeclared variable %q", via, name)}
		d.Detail = undeclaredDetail(name, names)
		return d
	}

	for _, kv := range opts.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvVarPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, EnvVarPrefix)
		if declared[name] == nil {
			diags = append(diags, undeclared(Pos{File: filename}, Warning, "environment variable "+k, name))
			continue
		}
		rv, rds := rawValue(v, work)
		diags = append(diags, rds...)
		vals[name] = rv
	}
	for _, path := range opts.VarFiles {
		fv, fds := readVarFile(path, work)
		diags = append(diags, fds...)
		for _, s := range fv {
			if declared[s.name] == nil {
				diags = append(diags, undeclared(PosOf(s.at), Error, "-var-file", s.name))
				continue
			}
			vals[s.name] = s.val
		}
	}
	for _, kv := range opts.Vars {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, Diagnostic{Pos: Pos{File: filename}, Severity: Error, Code: "usage",
				Message: fmt.Sprintf("-var %q: want NAME=VALUE with a valid name", kv)})
			continue
		}
		if declared[name] == nil {
			diags = append(diags, undeclared(Pos{File: filename}, Error, fmt.Sprintf("-var %q", kv), name))
			continue
		}
		rv, rds := rawValue(v, work)
		diags = append(diags, rds...)
		vals[name] = rv
	}

	for _, name := range names {
		if _, ok := vals[name]; !ok {
			diags.Errorf(declared[name].DefRange, "variable", fmt.Sprintf("set it with -var %s=VALUE, a -var-file, or %s%s", name, EnvVarPrefix, name),
				"variable %q has no value", name)
		}
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vals)},
		Functions: boundedFunctions(work),
	}, diags
}

// undeclaredDetail suggests the declared variable nearest to name, or how
// to declare it.
func undeclaredDetail(name string, declared []string) string {
	if s := Suggest(name, declared); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return fmt.Sprintf("declare it with variable %q {}", name)
}

// undeclaredReference recognises HCL's "Unsupported attribute" error on
// var.NAME, which says "This object does not have an attribute named", so
// that it can say what it means: the variable is not declared. It returns
// the name and the declared variables, for a suggestion.
func undeclaredReference(h *hcl.Diagnostic) (string, []string, bool) {
	if h.Summary != "Unsupported attribute" || h.Expression == nil || h.EvalContext == nil || h.Subject == nil {
		return "", nil, false
	}
	vars, ok := h.EvalContext.Variables["var"]
	if !ok || !vars.Type().IsObjectType() {
		return "", nil, false
	}
	for _, t := range h.Expression.Variables() {
		if t.RootName() != "var" || len(t) < 2 {
			continue
		}
		step, ok := t[1].(hcl.TraverseAttr)
		if !ok || step.SrcRange != *h.Subject || vars.Type().HasAttribute(step.Name) {
			continue
		}
		declared := make([]string, 0, len(vars.Type().AttributeTypes()))
		for name := range vars.Type().AttributeTypes() {
			declared = append(declared, name)
		}
		sort.Strings(declared)
		return step.Name, declared, true
	}
	return "", nil, false
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

// varSetting is one variable set in a -var-file, with where its name is.
type varSetting struct {
	name string
	val  cty.Value
	at   hcl.Range
}

// readVarFile reads a -var-file: "name = value" lines in HCL, or an
// object in JSON or YAML, chosen by extension (HCL when it says nothing).
// The settings come in file order, so messages do too.
func readVarFile(path string, work *budget) ([]varSetting, Diagnostics) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Pos: Pos{File: path}, Severity: Error, Code: "io",
			Message: fmt.Sprintf("-var-file: %v", err)}}
	}
	syntax := syntaxOfName(path)
	if syntax != SyntaxJSON && syntax != SyntaxYAML {
		syntax = SyntaxHCL
	}
	body, diags := parseBody(path, src, syntax, work)
	if diags.HasErrors() || body == nil {
		return nil, diags
	}
	attrs, hds := body.JustAttributes()
	diags = append(diags, FromHCL(hds)...)
	out := make([]varSetting, 0, len(attrs))
	for name, a := range attrs {
		v, hds := a.Expr.Value(nil)
		diags = append(diags, FromHCL(hds)...)
		out = append(out, varSetting{name: name, val: v, at: a.NameRange})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].at.Start, out[j].at.Start
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out, diags
}
