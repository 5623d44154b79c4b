package config

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decodeBody fills the struct that ptr points to from body, using the struct
// tags described in syntax.go. It is the one decoder behind every front end,
// so that HCL, HCL JSON and YAML report the same problems, with the same
// codes at the same places; decoding a File then words them in the File's
// Syntax (words.go).
func decodeBody(body hcl.Body, ctx *hcl.EvalContext, ptr any) Diagnostics {
	v := reflect.ValueOf(ptr).Elem()
	diags := decodeStruct(body, ctx, v, "")
	if f, ok := ptr.(*File); ok {
		diags = speak(f.Syntax, diags)
	}
	return diags
}

type fieldInfo struct {
	name  string
	kind  string // attr, block, label
	index int
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("hcl")
		if tag == "" {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		out = append(out, fieldInfo{name: name, kind: kind, index: i})
	}
	return out
}

// schemaOf derives the HCL schema of a syntax struct. Plain string and
// hcl.Expression fields (other than labels) are required; pointers and
// slices are optional.
func schemaOf(t reflect.Type) (*hcl.BodySchema, []fieldInfo) {
	fields := fieldsOf(t)
	s := &hcl.BodySchema{}
	for _, f := range fields {
		switch f.kind {
		case "attr":
			ft := t.Field(f.index).Type
			required := ft.Kind() == reflect.String
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: f.name, Required: required})
		case "block":
			et := t.Field(f.index).Type
			for et.Kind() == reflect.Ptr || et.Kind() == reflect.Slice {
				et = et.Elem()
			}
			var labels []string
			for _, lf := range fieldsOf(et) {
				if lf.kind == "label" {
					labels = append(labels, lf.name)
				}
			}
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: f.name, LabelNames: labels})
		}
	}
	return s, fields
}

var (
	nodeType = reflect.TypeOf(Node{})
	exprType = reflect.TypeOf((*hcl.Expression)(nil)).Elem()
)

// decodeStruct decodes one block; where names it for messages
// ("sync \"ftfw\""), empty at the top level.
func decodeStruct(body hcl.Body, ctx *hcl.EvalContext, v reflect.Value, where string) Diagnostics {
	schema, fields := schemaOf(v.Type())
	content, hds := body.Content(schema)
	diags := FromHCL(hds)
	node := nodeOf(v)
	if node != nil && node.Attrs == nil {
		node.Attrs = map[string]hcl.Range{}
	}
	for _, f := range fields {
		fv := v.Field(f.index)
		switch f.kind {
		case "attr":
			attr, ok := content.Attributes[f.name]
			if !ok {
				continue
			}
			if node != nil {
				node.Attrs[f.name] = attr.Expr.Range()
			}
			if fv.Type() == exprType {
				fv.Set(reflect.ValueOf(attr.Expr))
				continue
			}
			val, vds := attr.Expr.Value(ctx)
			diags = append(diags, FromHCL(vds)...)
			if vds.HasErrors() {
				continue
			}
			name := f.name
			if where != "" {
				name = where + ": " + f.name
			}
			diags = append(diags, assign(fv, val, name, attr.Expr.Range())...)
			if node != nil && fv.Kind() == reflect.Slice {
				// Element ranges, so a bad entry of a long list is pointed at.
				elems, eds := hcl.ExprList(attr.Expr)
				if !eds.HasErrors() {
					for i, e := range elems {
						node.Attrs[fmt.Sprintf("%s[%d]", f.name, i)] = e.Range()
					}
				}
			}
		case "block":
			diags = append(diags, decodeBlocks(content.Blocks.OfType(f.name), ctx, fv, f.name, where)...)
		}
	}
	return diags
}

func nodeOf(v reflect.Value) *Node {
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Type == nodeType && v.Type().Field(i).Anonymous {
			return v.Field(i).Addr().Interface().(*Node)
		}
	}
	return nil
}

func decodeBlocks(blocks hcl.Blocks, ctx *hcl.EvalContext, fv reflect.Value, name, parent string) Diagnostics {
	var diags Diagnostics
	switch fv.Kind() {
	case reflect.Ptr:
		for i, b := range blocks {
			if i > 0 {
				diags.Errorf(b.DefRange, "duplicate", fmt.Sprintf("the first %s block is at %s", name, PosOf(blocks[0].DefRange)), "duplicate %s block", name)
				continue
			}
			nv := reflect.New(fv.Type().Elem())
			diags = append(diags, decodeBlock(b, ctx, nv.Elem(), blockName(parent, b))...)
			fv.Set(nv)
		}
	case reflect.Slice:
		for _, b := range blocks {
			nv := reflect.New(fv.Type().Elem()).Elem()
			diags = append(diags, decodeBlock(b, ctx, nv, blockName(parent, b))...)
			fv.Set(reflect.Append(fv, nv))
		}
	}
	return diags
}

// blockName is how messages name a block: its type and labels, after its
// parent's name ("filter: stage \"address\"").
func blockName(parent string, b *hcl.Block) string {
	name := b.Type
	for _, l := range b.Labels {
		name += fmt.Sprintf(" %q", l)
	}
	if parent != "" {
		name = parent + ": " + name
	}
	return name
}

func decodeBlock(b *hcl.Block, ctx *hcl.EvalContext, v reflect.Value, where string) Diagnostics {
	if n := nodeOf(v); n != nil {
		n.DefRange = b.DefRange
		n.Labels = b.LabelRanges
	}
	li := 0
	for _, f := range fieldsOf(v.Type()) {
		if f.kind == "label" && li < len(b.Labels) {
			v.Field(f.index).SetString(b.Labels[li])
			li++
		}
	}
	return decodeStruct(b.Body, ctx, v, where)
}

// assign converts an evaluated value into a field of type string, *string,
// *bool, *int64 or []string.
func assign(fv reflect.Value, val cty.Value, name string, r hcl.Range) Diagnostics {
	var diags Diagnostics
	t := fv.Type()
	target := t
	if t.Kind() == reflect.Ptr {
		target = t.Elem()
	}
	if val.IsNull() {
		if t.Kind() == reflect.String {
			diags.Errorf(r, "type", "", "%s must not be null", name)
		}
		return diags
	}
	if !val.IsWhollyKnown() {
		diags.Errorf(r, "type", "", "%s has a value that is not known", name)
		return diags
	}
	var out reflect.Value
	switch target.Kind() {
	case reflect.String:
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			diags.Errorf(r, "type", "", "%s: a string is required, got %s", name, friendly(val))
			return diags
		}
		out = reflect.ValueOf(s.AsString())
	case reflect.Bool:
		b, err := convert.Convert(val, cty.Bool)
		if err != nil {
			diags.Errorf(r, "type", "", "%s: a boolean (true or false) is required, got %s", name, friendly(val))
			return diags
		}
		out = reflect.ValueOf(b.True())
	case reflect.Int64:
		n, err := convert.Convert(val, cty.Number)
		if err != nil {
			diags.Errorf(r, "type", "", "%s: a whole number is required, got %s", name, friendly(val))
			return diags
		}
		bf := n.AsBigFloat()
		i, acc := bf.Int64()
		if acc != big.Exact || !bf.IsInt() {
			diags.Errorf(r, "range", "", "%s: a whole number within 64 bits is required, got %s", name, bf.Text('g', 20))
			return diags
		}
		out = reflect.ValueOf(i)
	case reflect.Slice:
		// Each element is converted on its own: converting the whole tuple
		// to list(string) makes cty unify the element types pairwise, which
		// took 11 s for 40,000 addresses.
		vt := val.Type()
		if !vt.IsTupleType() && !vt.IsListType() && !vt.IsSetType() {
			diags.Errorf(r, "type", "", "%s: a list of strings is required, got %s", name, friendly(val))
			return diags
		}
		ss := make([]string, 0, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				diags.Errorf(r, "type", "", "%s: list elements must not be null", name)
				return diags
			}
			s, err := convert.Convert(e, cty.String)
			if err != nil {
				diags.Errorf(r, "type", "", "%s: a list of strings is required, got %s", name, vt.FriendlyName())
				return diags
			}
			ss = append(ss, s.AsString())
		}
		fv.Set(reflect.ValueOf(ss))
		return diags
	default:
		panic(fmt.Sprintf("config: field %s has unsupported type %s", name, t))
	}
	if t.Kind() == reflect.Ptr {
		p := reflect.New(target)
		p.Elem().Set(out)
		fv.Set(p)
	} else {
		fv.Set(out)
	}
	return diags
}

func friendly(v cty.Value) string {
	switch v.Type() {
	case cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case cty.Number:
		return "a number"
	case cty.Bool:
		return "a boolean"
	}
	// tuple and object: words.go says them in the file's syntax.
	return v.Type().FriendlyName()
}
