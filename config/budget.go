package config

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// MaxTemplateWork bounds the evaluation of one configuration's templates:
// the elements built by function calls (a string counts one per 64 bytes),
// the iterations of for expressions and the instances of dynamic blocks,
// all together. A template needs hundreds; three nested range(1000) are a
// billion, which ran past 20 s and 1.3 GB before this limit.
const MaxTemplateWork = 100000

// errTemplateLimit marks a function refused by the budget, so that FromHCL
// gives it its own code.
var errTemplateLimit = errors.New("template evaluation limit exceeded")

const templateLimitSummary = "Template evaluation limit exceeded"

// budget is the work left for one configuration's templates.
type budget struct{ left int }

func (b *budget) spend(n int) bool {
	if n > b.left {
		b.left = 0
		return false
	}
	b.left -= n
	return true
}

func (b *budget) err() error {
	return fmt.Errorf("%w: a configuration's templates may build at most %d elements", errTemplateLimit, MaxTemplateWork)
}

// boundedFunctions is Functions with every call charged to b: the size of
// its result after the call, and before it, for the functions whose result
// can be far larger than their arguments, its size from the arguments.
//
// It also converts tuple arguments to the lists the functions take in one
// pass: cty unifies a tuple's element types pairwise for that, which took
// 10 s for tolist() of 20,000 strings (see listArgs).
func boundedFunctions(b *budget) map[string]function.Function {
	out := map[string]function.Function{}
	for name, f := range Functions() {
		f, pre := f, preCost[name]
		want := listParams(name, f)
		params := f.Params()
		for i := range params {
			if want(i).IsListType() {
				params[i].Type = cty.DynamicPseudoType // converted by listArgs
			}
		}
		var varParam *function.Parameter
		if vp := f.VarParam(); vp != nil {
			p := *vp
			if want(len(params)).IsListType() {
				p.Type = cty.DynamicPseudoType
			}
			varParam = &p
		}
		out[name] = function.New(&function.Spec{
			Description: f.Description(),
			Params:      params,
			VarParam:    varParam,
			Type: func(args []cty.Value) (cty.Type, error) {
				args, err := listArgs(args, want, b)
				if err != nil {
					return cty.DynamicPseudoType, err
				}
				return f.ReturnTypeForValues(args)
			},
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				args, err := listArgs(args, want, b)
				if err != nil {
					return cty.DynamicVal, err
				}
				if pre != nil && !b.spend(pre(args)) {
					return cty.DynamicVal, b.err()
				}
				v, err := f.Call(args)
				if err == nil && !b.spend(valueCost(v)) {
					return cty.DynamicVal, b.err()
				}
				return v, err
			},
		})
	}
	return out
}

// listParams says which list type, if any, argument i of function f is
// converted to (cty.NilType when none). tolist takes any value and
// converts it inside, so it is told here.
func listParams(name string, f function.Function) func(i int) cty.Type {
	params, vp := f.Params(), f.VarParam()
	return func(i int) cty.Type {
		var t cty.Type
		switch {
		case name == "tolist" && i == 0:
			return cty.List(cty.DynamicPseudoType)
		case i < len(params):
			t = params[i].Type
		case vp != nil:
			t = vp.Type
		default:
			return cty.NilType
		}
		if t == cty.NilType || !t.IsListType() {
			return cty.NilType
		}
		return t
	}
}

// listArgs converts each tuple argument whose parameter is a list to that
// list, as HCL would before the call (the parameters of the bounded
// functions are dynamic, so HCL leaves it to this): in one pass when the
// elements are of one primitive type or convert to one, else with cty's
// conversion, whose pairwise unification is charged to the budget as the
// square of the length over 1000.
func listArgs(args []cty.Value, want func(int) cty.Type, b *budget) ([]cty.Value, error) {
	var out []cty.Value
	for i, a := range args {
		t := want(i)
		if t == cty.NilType || !a.IsKnown() || a.IsNull() || !a.Type().IsTupleType() {
			continue
		}
		l, ok := tupleToList(a, t.ElementType())
		if !ok {
			n := a.LengthInt()
			if !b.spend(n * n / 1000) {
				return nil, b.err()
			}
			var err error
			if l, err = convert.Convert(a, t); err != nil {
				return nil, function.NewArgError(i, err)
			}
		}
		if out == nil {
			out = append([]cty.Value(nil), args...)
		}
		out[i] = l
	}
	if out == nil {
		return args, nil
	}
	return out, nil
}

// tupleToList converts a non-empty tuple to a list of et in one pass, when
// every element converts to et (a known type), or when all are of one type
// or all are primitive (et dynamic: cty unifies mixed primitives to
// string).
func tupleToList(v cty.Value, et cty.Type) (cty.Value, bool) {
	n := v.LengthInt()
	if n == 0 {
		return v, false
	}
	elems := make([]cty.Value, 0, n)
	same, primitive := true, true
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if et != cty.DynamicPseudoType {
			c, err := convert.Convert(e, et)
			if err != nil {
				return v, false
			}
			e = c
		}
		same = same && (len(elems) == 0 || e.Type().Equals(elems[0].Type()))
		primitive = primitive && e.Type().IsPrimitiveType()
		elems = append(elems, e)
	}
	switch {
	case same:
	case primitive:
		for i, e := range elems {
			c, err := convert.Convert(e, cty.String)
			if err != nil {
				return v, false
			}
			elems[i] = c
		}
	default:
		return v, false
	}
	return cty.ListVal(elems), true
}

// preCost estimates, from the arguments, the size of results that would
// be too large to build first and count after.
var preCost = map[string]func([]cty.Value) int{
	// range([start,] limit [, step])
	"range": func(args []cty.Value) int {
		num := func(i int) *big.Float {
			if i >= len(args) || !args[i].IsKnown() || args[i].IsNull() || args[i].Type() != cty.Number {
				return nil
			}
			return args[i].AsBigFloat()
		}
		start, limit, step := big.NewFloat(0), num(0), big.NewFloat(1)
		if len(args) >= 2 {
			start, limit = num(0), num(1)
		}
		if len(args) == 3 {
			step = num(2)
		}
		if start == nil || limit == nil || step == nil || step.Sign() == 0 {
			return 0 // the function itself refuses these
		}
		n := new(big.Float).Quo(new(big.Float).Sub(limit, start), step)
		if n.Sign() < 0 {
			return 0
		}
		if !n.IsInt() || n.Cmp(big.NewFloat(MaxTemplateWork)) > 0 {
			return MaxTemplateWork + 1
		}
		i, _ := n.Int64()
		return int(i)
	},
	// replace(s, substr, with): at most len(s)/len(substr) replacements.
	"replace": func(args []cty.Value) int {
		if len(args) != 3 || !stringArgs(args) {
			return 0
		}
		s, sub, with := args[0].AsString(), args[1].AsString(), args[2].AsString()
		n := len(s)/max(len(sub), 1) + 1
		return n * (len(with)/64 + 1)
	},
	// regexreplace(s, re, with): at most len(s)+1 matches (an empty
	// pattern matches between every byte), each replaced by with, whose
	// $1-style references expand to parts of matches that do not overlap:
	// together at most len(s) per reference.
	"regexreplace": func(args []cty.Value) int {
		if len(args) != 3 || !stringArgs(args) {
			return 0
		}
		s, with := len(args[0].AsString()), args[2].AsString()
		refs := strings.Count(with, "$")
		return min(s+(s+1)*len(with)+refs*s, 64*(MaxTemplateWork+1)) / 64
	},
	// join(sep, lists...): the separator repeats between every element.
	"join": func(args []cty.Value) int {
		if len(args) < 2 || !stringArgs(args[:1]) {
			return 0
		}
		n := 0
		for _, l := range args[1:] {
			if l.IsKnown() && !l.IsNull() && l.CanIterateElements() {
				n += l.LengthInt()
			}
		}
		return min(len(args[0].AsString())*max(n-1, 0), 64*(MaxTemplateWork+1)) / 64
	},
	// format and formatlist: a width or precision such as "%999999999d"
	// is an allocation of that size.
	"format":     formatCost,
	"formatlist": formatCost,
}

func stringArgs(args []cty.Value) bool {
	for _, a := range args {
		if !a.IsKnown() || a.IsNull() || a.Type() != cty.String {
			return false
		}
	}
	return true
}

func formatCost(args []cty.Value) int {
	if len(args) == 0 || !stringArgs(args[:1]) {
		return 0
	}
	cost, n := 0, 0
	for _, c := range args[0].AsString() {
		if c >= '0' && c <= '9' {
			// Capped past the budget, not at it: a capped width must
			// still be refused ("%-999999999s" built 1 GB first).
			n = min(n*10+int(c-'0'), 64*(MaxTemplateWork+1))
			continue
		}
		cost += n / 64
		n = 0
	}
	return cost
}

// valueCost is the size of v in budget units: one per element, and one
// per 64 bytes of string.
func valueCost(v cty.Value) int {
	if !v.IsKnown() || v.IsNull() {
		return 1
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return 1 + len(v.AsString())/64
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		n := 1
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			n += valueCost(e)
		}
		return n
	}
	return 1
}

// boundLoops charges the iterations of every for expression and the
// instances of every dynamic block under n to b, by wrapping their
// collection expressions: a nested loop's collection is evaluated once per
// outer iteration, so the charges add up to the total iterations. It also
// charges the size of each value a for expression builds and of each
// interpolation a template joins ("${var.s}${var.s}…" repeats a string
// without calling a function), before they are kept or joined.
func boundLoops(n hclsyntax.Node, b *budget) {
	type site struct {
		expr *hclsyntax.Expression
		rng  hcl.Range
		coll bool // charge the length, not the size
	}
	var sites []site
	hclsyntax.VisitAll(n, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.ForExpr:
			sites = append(sites, site{&n.CollExpr, n.SrcRange, true}, site{&n.ValExpr, n.ValExpr.Range(), false})
			if n.KeyExpr != nil {
				sites = append(sites, site{&n.KeyExpr, n.KeyExpr.Range(), false})
			}
		case *hclsyntax.TemplateExpr:
			for i, p := range n.Parts {
				if _, lit := p.(*hclsyntax.LiteralValueExpr); !lit {
					sites = append(sites, site{&n.Parts[i], p.Range(), false})
				}
			}
		case *hclsyntax.Block:
			if a, ok := n.Body.Attributes["for_each"]; ok && n.Type == "dynamic" {
				sites = append(sites, site{&a.Expr, a.SrcRange, true})
			}
		}
		return nil
	})
	// Wrapped after the walk, which would not descend into a wrapper.
	for _, s := range sites {
		if s.coll {
			*s.expr = &boundedColl{Expression: *s.expr, b: b, rng: s.rng}
		} else {
			*s.expr = &boundedVal{Expression: *s.expr, b: b, rng: s.rng}
		}
	}
}

// boundedVal is a value a for expression builds or a template joins,
// charged by its size each time it is evaluated.
type boundedVal struct {
	hclsyntax.Expression
	b   *budget
	rng hcl.Range
}

func (e *boundedVal) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := e.Expression.Value(ctx)
	if diags.HasErrors() {
		return v, diags
	}
	if !e.b.spend(valueCost(v)) {
		return cty.DynamicVal, append(diags, limitDiag(e.rng))
	}
	return v, diags
}

// boundedColl is a for expression's (or a dynamic block's) collection,
// charged by its length each time it is evaluated. Embedding the
// interface keeps it an hclsyntax.Expression.
type boundedColl struct {
	hclsyntax.Expression
	b   *budget
	rng hcl.Range
}

func (e *boundedColl) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := e.Expression.Value(ctx)
	return chargeLength(e.b, e.rng, v, diags)
}

// chargeLength charges the length of a loop's collection v, once
// evaluated, to b.
func chargeLength(b *budget, rng hcl.Range, v cty.Value, diags hcl.Diagnostics) (cty.Value, hcl.Diagnostics) {
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return v, diags
	}
	if !b.spend(v.LengthInt()) {
		return cty.DynamicVal, append(diags, limitDiag(rng))
	}
	return v, diags
}

func limitDiag(r hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  templateLimitSummary,
		Detail: fmt.Sprintf("The loops of a configuration's templates may run at most %d iterations in all, and its functions build at most as many elements; this one goes past it.",
			MaxTemplateWork),
		Subject: r.Ptr(),
	}
}

// isTemplateLimit reports whether h is a function call refused by the budget.
func isTemplateLimit(h *hcl.Diagnostic) bool {
	if strings.HasPrefix(h.Summary, templateLimitSummary) {
		return true
	}
	x, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](h)
	return ok && errors.Is(x.FunctionCallError(), errTemplateLimit)
}

// jsonBody wraps a body of HCL's JSON syntax so that the templates in its
// strings ("${[for a in var.l : ...]}") are charged to the budget too: the
// JSON parser parses them with hclsyntax only when it evaluates them, out
// of boundLoops' reach, so jsonExpr parses them itself, as it would.
type jsonBody struct {
	hcl.Body
	work *budget
}

func (b jsonBody) Content(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := b.Body.Content(s)
	return b.content(c), diags
}

func (b jsonBody) PartialContent(s *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c, rest, diags := b.Body.PartialContent(s)
	if rest != nil {
		rest = jsonBody{rest, b.work}
	}
	return b.content(c), rest, diags
}

func (b jsonBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	attrs, diags := b.Body.JustAttributes()
	return b.attributes(attrs), diags
}

func (b jsonBody) content(c *hcl.BodyContent) *hcl.BodyContent {
	if c == nil {
		return nil
	}
	out := *c
	out.Attributes = b.attributes(c.Attributes)
	out.Blocks = make(hcl.Blocks, len(c.Blocks))
	for i, blk := range c.Blocks {
		nb := *blk
		nb.Body = jsonBody{blk.Body, b.work}
		out.Blocks[i] = &nb
	}
	return &out
}

func (b jsonBody) attributes(attrs hcl.Attributes) hcl.Attributes {
	if attrs == nil {
		return nil
	}
	out := make(hcl.Attributes, len(attrs))
	for name, a := range attrs {
		na := *a
		na.Expr = &jsonExpr{Expression: a.Expr, work: b.work}
		if name == "for_each" {
			// A dynamic block's: charged by its instances, as in boundLoops
			// (no attribute of the model has this name).
			na.Expr = &boundedJSONColl{na.Expr, b.work, a.Range}
		}
		out[name] = &na
	}
	return out
}

// jsonExpr evaluates a JSON value as HCL's JSON syntax does (strings are
// templates when there is an evaluation context), with the loops of its
// templates bounded. Values without a template are left to the JSON
// syntax, as are objects.
type jsonExpr struct {
	hcl.Expression
	work *budget
}

func (e *jsonExpr) UnwrapExpression() hcl.Expression { return e.Expression }

func (e *jsonExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if ctx == nil {
		return e.Expression.Value(nil)
	}
	lit, diags := e.Expression.Value(nil)
	if diags.HasErrors() || !hasTemplate(lit) {
		return e.Expression.Value(ctx)
	}
	switch {
	case lit.Type() == cty.String:
		// The JSON syntax starts the template one column after the
		// opening quote.
		start := e.Expression.Range().Start
		start.Column++
		start.Byte++
		tmpl, diags := hclsyntax.ParseTemplate([]byte(lit.AsString()), e.Expression.Range().Filename, start)
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		boundLoops(tmpl, e.work)
		return tmpl.Value(ctx)
	case lit.Type().IsTupleType():
		elems, diags := hcl.ExprList(e.Expression)
		if diags.HasErrors() {
			return e.Expression.Value(ctx)
		}
		vals := make([]cty.Value, len(elems))
		for i, el := range elems {
			v, ds := (&jsonExpr{Expression: el, work: e.work}).Value(ctx)
			diags = append(diags, ds...)
			vals[i] = v
		}
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		return cty.TupleVal(vals), diags
	}
	return e.Expression.Value(ctx)
}

// hasTemplate reports whether a literal JSON value holds a string with a
// template sequence.
func hasTemplate(v cty.Value) bool {
	if !v.IsKnown() || v.IsNull() {
		return false
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return containsTemplate([]byte(v.AsString()))
	case ty.IsTupleType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			if _, e := it.Element(); hasTemplate(e) {
				return true
			}
		}
	}
	return false
}

// boundedJSONColl is boundedColl for an expression of the JSON syntax.
type boundedJSONColl struct {
	hcl.Expression
	b   *budget
	rng hcl.Range
}

func (e *boundedJSONColl) UnwrapExpression() hcl.Expression { return e.Expression }

func (e *boundedJSONColl) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := e.Expression.Value(ctx)
	return chargeLength(e.b, e.rng, v, diags)
}
