package config

import (
	"fmt"
	"strings"
	"testing"
)

// addressList is a configuration whose address stage lists n distinct
// IPv4 addresses, in the given syntax: the shape that made validation
// quadratic.
func addressList(syntax Syntax, n int) []byte {
	var b strings.Builder
	addr := func(i int) string { return fmt.Sprintf("\"10.%d.%d.%d\"", i>>16&255, i>>8&255, i&255) }
	switch syntax {
	case SyntaxJSON:
		b.WriteString(`{"filter": {"stage": {"address": {"ignore": [`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",\n")
			}
			b.WriteString(addr(i))
		}
		b.WriteString("]}}}}\n")
	case SyntaxYAML:
		b.WriteString("filter:\n  stage:\n    address:\n      ignore:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "        - %s\n", addr(i))
		}
	case "yaml-flow": // one line, which made positions quadratic
		b.WriteString("filter:\n  stage:\n    address:\n      ignore: [")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(addr(i))
		}
		b.WriteString("]\n")
	default:
		b.WriteString("filter {\n  stage \"address\" {\n    ignore = [\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "      %s,\n", addr(i))
		}
		b.WriteString("    ]\n  }\n}\n")
	}
	return []byte(b.String())
}

// BenchmarkValidateAddressList parses and validates address lists of 1k,
// 10k and 100k entries in each syntax: ns/op and B/op must grow about
// tenfold per step.
func BenchmarkValidateAddressList(b *testing.B) {
	for _, shape := range []Syntax{SyntaxHCL, SyntaxJSON, SyntaxYAML, "yaml-flow"} {
		syntax := shape
		if shape == "yaml-flow" {
			syntax = SyntaxYAML
		}
		for _, n := range []int{1000, 10000, 100000} {
			src := addressList(shape, n)
			b.Run(fmt.Sprintf("%s/%d", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					f, diags := Parse("list", src, LoadOptions{Syntax: syntax})
					if diags.HasErrors() {
						b.Fatal(diags.Fold(3))
					}
					if _, diags := Validate(f, ValidateOptions{}); diags.HasErrors() {
						b.Fatal(diags.Fold(3))
					}
				}
			})
		}
	}
}

// BenchmarkFormatAddressList formats the same lists as `ctsync fmt` does.
func BenchmarkFormatAddressList(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		src := addressList(SyntaxHCL, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				FormatHCL(src)
			}
		})
	}
}
