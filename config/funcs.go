package config

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Functions is the function set available in HCL configurations. It is
// small and deterministic on purpose: no file, network, clock or random
// access, so that the same template and variables always give the same
// configuration, in CI and on the firewall.
func Functions() map[string]function.Function {
	return map[string]function.Function{
		// strings
		"upper": stdlib.UpperFunc, "lower": stdlib.LowerFunc, "title": stdlib.TitleFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"join": stdlib.JoinFunc, "split": stdlib.SplitFunc, "replace": stdlib.ReplaceFunc,
		"regex": stdlib.RegexFunc, "regexreplace": stdlib.RegexReplaceFunc,
		"substr": stdlib.SubstrFunc, "strlen": stdlib.StrlenFunc,
		// collections
		"length": stdlib.LengthFunc, "element": stdlib.ElementFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": distinctFunc, "flatten": stdlib.FlattenFunc,
		"keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "reverse": stdlib.ReverseListFunc, "compact": stdlib.CompactFunc,
		"zipmap": stdlib.ZipmapFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		// numbers
		"min": stdlib.MinFunc, "max": stdlib.MaxFunc, "abs": stdlib.AbsoluteFunc,
		"ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc, "parseint": stdlib.ParseIntFunc,
		// conversions
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"jsonencode": stdlib.JSONEncodeFunc,
		"try":        tryfunc.TryFunc, "can": tryfunc.CanFunc,
		// addresses
		"cidrhost": cidrHostFunc, "cidrsubnet": cidrSubnetFunc, "cidrnetmask": cidrNetmaskFunc,
	}
}

// cidrhost("198.51.100.0/24", 5) = "198.51.100.5"; a negative number counts
// from the end of the range.
var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "hostnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		n := args[1].AsBigFloat()
		num, acc := n.Int(nil)
		if acc != big.Exact {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "host number must be whole")
		}
		hostBits := p.Addr().BitLen() - p.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
		if num.Sign() < 0 {
			num.Add(num, size)
		}
		if num.Sign() < 0 || num.Cmp(size) >= 0 {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "prefix %s has no host number %s", p, n.Text('f', 0))
		}
		return cty.StringVal(addToAddr(p.Masked().Addr(), num, 0).String()), nil
	},
})

// cidrsubnet("198.51.100.0/24", 4, 2) = "198.51.100.32/28".
var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "newbits", Type: cty.Number},
		{Name: "netnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		nb, _ := args[1].AsBigFloat().Int64()
		bits := p.Bits() + int(nb)
		if nb < 0 || bits > p.Addr().BitLen() {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "cannot extend /%d by %d bits", p.Bits(), nb)
		}
		num, _ := args[2].AsBigFloat().Int(nil)
		if num.Sign() < 0 || num.BitLen() > int(nb) {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(2, "%d bits cannot number subnet %s", nb, num)
		}
		addr := addToAddr(p.Masked().Addr(), num, p.Addr().BitLen()-bits)
		return cty.StringVal(netip.PrefixFrom(addr, bits).String()), nil
	},
})

// cidrnetmask("198.51.100.0/24") = "255.255.255.0" (IPv4 only).
var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil || !p.Addr().Is4() {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "an IPv4 prefix is required, got %q", args[0].AsString())
		}
		m := ^uint32(0) << (32 - p.Bits())
		if p.Bits() == 0 {
			m = 0
		}
		return cty.StringVal(netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()), nil
	},
})

// addToAddr returns a + n<<shift.
func addToAddr(a netip.Addr, n *big.Int, shift int) netip.Addr {
	b := a.AsSlice()
	v := new(big.Int).SetBytes(b)
	v.Add(v, new(big.Int).Lsh(n, uint(shift)))
	out := v.FillBytes(make([]byte, len(b)))
	r, ok := netip.AddrFromSlice(out)
	if !ok {
		panic(fmt.Sprintf("config: address arithmetic on %s", a))
	}
	return r
}

// distinctFunc is go-cty's distinct, which compares each element with every
// one kept before it (60 s for 20,000 strings), with a set for the
// primitive elements that configurations hold.
var distinctFunc = function.New(&function.Spec{
	Description: stdlib.DistinctFunc.Description(),
	Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.DynamicPseudoType)}},
	Type:        func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		list := args[0]
		if !list.IsWhollyKnown() {
			return cty.UnknownVal(retType), nil
		}
		seen := map[string]bool{}
		var kept, others []cty.Value
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if k, ok := primitiveKey(v); ok {
				if !seen[k] {
					seen[k] = true
					kept = append(kept, v)
				}
				continue
			}
			dup := false
			for _, o := range others {
				if eq := o.Equals(v); eq.IsKnown() && eq.True() {
					dup = true
					break
				}
			}
			if !dup {
				others = append(others, v)
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			return cty.ListValEmpty(retType.ElementType()), nil
		}
		return cty.ListVal(kept), nil
	},
})

// primitiveKey is a key that equal known, non-null strings, numbers and
// booleans share, and no other value does.
func primitiveKey(v cty.Value) (string, bool) {
	if !v.IsKnown() || v.IsNull() {
		return "", false
	}
	switch v.Type() {
	case cty.String:
		return "s" + v.AsString(), true
	case cty.Number:
		return "n" + v.AsBigFloat().Text('g', -1), true
	case cty.Bool:
		return fmt.Sprintf("b%t", v.True()), true
	}
	return "", false
}
