package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestTemplateLimit: templates that would build billions of elements are
// refused quickly with a located template-limit error (three nested
// range(1000) ran past 20 s and 1.3 GB), and ordinary ones are not.
func TestTemplateLimit(t *testing.T) {
	list100 := "[" + strings.Repeat("0,1,2,3,4,5,6,7,8,9,", 10) + "0]"
	list1000 := "[" + strings.Repeat("0,1,2,3,4,5,6,7,8,9,", 100) + "0]"
	varFile := filepath.Join(t.TempDir(), "v.hcl")
	if err := os.WriteFile(varFile, []byte("l = [for a in "+list100+" : [for b in "+list100+" : [for c in "+list100+" : c]]]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		file  string // f.hcl when empty
		src   string
		opts  LoadOptions
		at    string // "" when accepted
		count int    // elements of the address list when accepted
	}{
		{name: "nested range in flatten",
			src: `filter {
  stage "address" {
    ignore = flatten([for a in range(1000) : [for b in range(1000) : [for c in range(1000) : "10.0.0.1"]]])
  }
}
`, at: "f.hcl:3:"},
		{name: "nested loops over a literal",
			src: "filter {\n  stage \"address\" {\n    ignore = [for a in " + list100 + " : [for b in " + list100 + " : [for c in " + list100 + " : \"10.0.0.1\"]]]\n  }\n}\n",
			at:  "f.hcl:3:"},
		{name: "one huge range", src: "variable \"n\" { default = 1 }\ndaemon {\n  lock_file = length(range(1e15))\n}\n", at: "f.hcl:3:22"},
		{name: "format width", src: "daemon {\n  lock_file = format(\"%999999999d\", 1)\n}\n", at: "f.hcl:2:15"},
		{name: "replace growth",
			src: "daemon {\n  lock_file = replace(replace(\"" + strings.Repeat("a", 1000) + "\", \"a\", \"" + strings.Repeat("a", 1000) + "\"), \"a\", \"" + strings.Repeat("a", 1000) + "\")\n}\n",
			at:  "f.hcl:2:15"},
		{name: "nested dynamic blocks",
			src: `variable "n" { default = 1000 }
helpers {
  dynamic "helper" {
    for_each = range(var.n)
    labels   = ["ftp", "inet", "tcp"]
    content {
      dynamic "policy" {
        for_each = range(var.n)
        labels   = ["ftp"]
        content {}
      }
    }
  }
}
`, at: "f.hcl:8:"},
		{name: "loops in a var file",
			src:  "variable \"l\" { default = [] }\ndaemon { lock_file = \"/x\" }\n",
			opts: LoadOptions{VarFiles: []string{varFile}}, at: varFile + ":1:"},
		{name: "loops in a -var", src: "variable \"l\" { default = [] }\ndaemon { lock_file = length(var.l) }\n",
			opts: LoadOptions{Vars: []string{"l=[for a in " + list100 + " : [for b in " + list100 + " : [for c in " + list100 + " : c]]]"}}, at: "-var:1:"},
		{name: "nested loops in a JSON template", file: "f.json",
			src: `{"variable": {"l": {"default": ` + list100 + `}}, "filter": {"stage": {"address": {"ignore": "${[for a in var.l : [for b in var.l : [for c in var.l : \"x\"]]]}"}}}}`,
			at:  "f.json:1:"},
		{name: "nested loops in a JSON list of templates", file: "f.json",
			src: `{"variable": {"l": {"default": ` + list100 + `}}, "filter": {"stage": {"address": {"ignore": ["${join(\",\", [for a in var.l : join(\",\", [for b in var.l : join(\",\", [for c in var.l : \"x\"])])])}"]}}}}`,
			at:  "f.json:1:"},
		{name: "nested dynamic blocks in JSON", file: "f.json",
			src: `{"variable": {"l": {"default": ` + list1000 + `}}, "helpers": {"dynamic": {"helper": {"for_each": "${var.l}", "labels": ["ftp", "inet", "tcp"], "content": {"dynamic": {"policy": {"for_each": "${var.l}", "labels": ["ftp"], "content": {}}}}}}}}`,
			at:  "f.json:1:"},
		{name: "ordinary JSON template", file: "f.json",
			src:   `{"filter": {"stage": {"address": {"ignore": ["${cidrhost(\"10.0.0.0/8\", 1)}", "10.0.0.2"]}}}}`,
			count: 2},
		{name: "interpolations repeating a string",
			src: "variable \"s\" { default = \"" + strings.Repeat("x", 100000) + "\" }\ndaemon {\n  lock_file = \"" + strings.Repeat("${var.s}", 1000) + "\"\n}\n",
			at:  "f.hcl:3:"},
		{name: "loop values repeating a string",
			src: "variable \"s\" { default = \"" + strings.Repeat("x", 100000) + "\" }\nfilter {\n  stage \"address\" {\n    ignore = [for i in range(1000) : \"${var.s}-\"]\n  }\n}\n",
			at:  "f.hcl:4:"},
		{name: "ordinary template",
			src:   "filter {\n  stage \"address\" {\n    ignore = [for i in range(200) : cidrhost(\"10.0.0.0/16\", i)]\n  }\n}\n",
			count: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "f.hcl"
			}
			f, ds := Parse(file, []byte(tt.src), tt.opts)
			if tt.at == "" {
				if ds.HasErrors() {
					t.Fatalf("refused: %v", ds)
				}
				if got := len(f.Filter.Stages[0].Ignore); got != tt.count {
					t.Fatalf("%d entries, want %d", got, tt.count)
				}
				return
			}
			var found bool
			for _, d := range ds {
				if d.Code == "template-limit" && strings.HasPrefix(d.Pos.String(), tt.at) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no template-limit error at %s in %v", tt.at, ds.Fold(5))
			}
		})
	}
}

// TestBoundedFunctionsAgree: the bounded functions, with their one-pass
// list conversion and distinct, return what go-cty's do.
func TestBoundedFunctionsAgree(t *testing.T) {
	calls := []string{
		`distinct(["a", "b", "a", "c", "b"])`,
		`distinct([1, 2, 1.0, 3])`,
		`distinct([true, false, true])`,
		`distinct([["a"], ["b"], ["a"]])`,
		`distinct([])`,
		`distinct(["a", 1, "1"])`,
		`sort(["b", "a", "c"])`,
		`sort(["b", 1, "a"])`,
		`tolist(["a", "b"])`,
		`tolist(["a", 1])`,
		`compact(["a", "", "b"])`,
		`join(",", ["a", "b"], ["c"])`,
		`join(",", ["a", 1])`,
		`contains(["a", "b"], "b")`,
		`flatten([["a"], ["b", ["c"]]])`,
		`reverse([1, "a"])`,
		`slice(["a", "b", "c"], 1, 2)`,
		`concat(["a"], [1])`,
		`formatlist("%s-%s", ["a", "b"], "x")`,
		`length(tolist([]))`,
		`sort([])`,
		`coalescelist([], ["a"])`,
	}
	plain := &hcl.EvalContext{Functions: Functions()}
	bounded := &hcl.EvalContext{Functions: boundedFunctions(&budget{left: MaxTemplateWork})}
	for _, call := range calls {
		t.Run(call, func(t *testing.T) {
			expr, ds := hclsyntax.ParseExpression([]byte(call), "f", hcl.InitialPos)
			if ds.HasErrors() {
				t.Fatal(ds)
			}
			want, wds := expr.Value(plain)
			got, gds := expr.Value(bounded)
			if wds.HasErrors() != gds.HasErrors() {
				t.Fatalf("errors differ: %v, want %v", gds, wds)
			}
			if !wds.HasErrors() && !got.RawEquals(want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

// BenchmarkTemplateFunctions calls the functions whose list conversion
// or comparisons were quadratic (distinct of 20,000 strings ran over a
// minute) on literal lists of 1k, 10k and 100k strings.
func BenchmarkTemplateFunctions(b *testing.B) {
	for _, fn := range []string{"distinct", "sort", "tolist", "compact"} {
		for _, n := range []int{1000, 10000, 100000} {
			var src strings.Builder
			src.WriteString(fn + "([")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&src, "\"%d\",", i%(n/2))
			}
			src.WriteString("])")
			expr, ds := hclsyntax.ParseExpression([]byte(src.String()), "f", hcl.InitialPos)
			if ds.HasErrors() {
				b.Fatal(ds)
			}
			b.Run(fmt.Sprintf("%s/%d", fn, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ctx := &hcl.EvalContext{Functions: boundedFunctions(&budget{left: 10 * n})}
					if _, ds := expr.Value(ctx); ds.HasErrors() {
						b.Fatal(ds)
					}
				}
			})
		}
	}
}

// TestPreCost: a call whose result would be past the budget is refused
// from its arguments, before it is built (format("%-999999999s", "x")
// built 1 GB first, and regexreplace of a 400 kB string by itself ran
// out of memory at 24 GB), and an ordinary call costs little.
func TestPreCost(t *testing.T) {
	big := cty.StringVal(strings.Repeat("x", 400000))
	var thousand []cty.Value
	for range 1000 {
		thousand = append(thousand, cty.StringVal(""))
	}
	tests := []struct {
		name string
		fn   string
		args []cty.Value
		over bool
	}{
		{"format left-justified width", "format", []cty.Value{cty.StringVal("%-999999999s"), cty.StringVal("x")}, true},
		{"format width at the cap", "format", []cty.Value{cty.StringVal("%6400064s"), cty.StringVal("x")}, true},
		{"regexreplace empty pattern", "regexreplace", []cty.Value{big, cty.StringVal(""), big}, true},
		{"regexreplace every byte", "regexreplace", []cty.Value{big, cty.StringVal("x"), big}, true},
		{"join with a long separator", "join", []cty.Value{big, cty.ListVal(thousand)}, true},
		{"ordinary format", "format", []cty.Value{cty.StringVal("%-20s|%5d"), cty.StringVal("x"), cty.NumberIntVal(1)}, false},
		{"ordinary regexreplace", "regexreplace", []cty.Value{cty.StringVal("eth0.57"), cty.StringVal(`\.(\d+)`), cty.StringVal("-$1")}, false},
		{"ordinary join", "join", []cty.Value{cty.StringVal(","), cty.ListVal(thousand)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre := preCost[tt.fn]
			if pre == nil {
				t.Fatalf("%s has no cost estimate", tt.fn)
			}
			got := pre(tt.args)
			if over := got > MaxTemplateWork; over != tt.over {
				t.Errorf("cost %d, past the budget of %d: %v, want %v", got, MaxTemplateWork, over, tt.over)
			}
		})
	}
}
