package migrate

import (
	"fmt"
	"strings"
	"testing"
)

// legacyAddressList is a conntrackd.conf whose address filter lists n
// distinct IPv4 addresses.
func legacyAddressList(n int) []byte {
	var b strings.Builder
	b.WriteString("General {\n  Filter From Userspace {\n    Address Ignore {\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      IPv4_address 10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("    }\n  }\n}\n")
	return []byte(b.String())
}

// legacyRepeated sets HashSize n times: one warning per line.
func legacyRepeated(n int) []byte {
	return []byte("General {\n" + strings.Repeat("  HashSize 8192\n", n) + "}\n")
}

// BenchmarkMigrate converts legacy files of 1k, 10k and 100k entries to
// HCL: ns/op and B/op must grow about tenfold per step.
func BenchmarkMigrate(b *testing.B) {
	lo := func(string) bool { return true }
	for _, shape := range []struct {
		name string
		gen  func(int) []byte
	}{{"addresses", legacyAddressList}, {"repeated", legacyRepeated}} {
		for _, n := range []int{1000, 10000, 100000} {
			src := shape.gen(n)
			b.Run(fmt.Sprintf("%s/%d", shape.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					out, diags := Migrate("big.conf", src, MigrateOptions{InterfaceExists: lo})
					if diags.HasErrors() || len(out) == 0 {
						b.Fatal(diags.Fold(3))
					}
				}
			})
		}
	}
}
