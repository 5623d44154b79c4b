package config

import (
	"fmt"
	"strings"
	"testing"
)

// addressList is an HCL configuration whose address stage lists n distinct
// IPv4 addresses: the shape that made validation quadratic.
func addressList(n int) []byte {
	var b strings.Builder
	b.WriteString("filter {\n  stage \"address\" {\n    ignore = [\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      \"10.%d.%d.%d\",\n", i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("    ]\n  }\n}\n")
	return []byte(b.String())
}

// BenchmarkValidateAddressList parses and validates address lists of 1k,
// 10k and 100k entries: ns/op and B/op must grow about tenfold per step.
func BenchmarkValidateAddressList(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		src := addressList(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				f, diags := Parse("list.hcl", src, LoadOptions{Syntax: SyntaxHCL})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if _, diags := Validate(f, ValidateOptions{}); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
		})
	}
}

// BenchmarkFormatAddressList formats the same lists as `ctsync fmt` does.
func BenchmarkFormatAddressList(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		src := addressList(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				FormatHCL(src)
			}
		})
	}
}
