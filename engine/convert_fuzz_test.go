package engine

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// FuzzKernelFlow: whatever a peer sends, turning it into the kernel's flow
// or the cache's, or into an expectation, never panics, takes time in
// proportion to the message, and either fails with an error or gives a
// flow that ctnl can write (create, update, delete) when it has a timeout,
// or an expectation that ctnl can write. Sent again and received again,
// either flow no longer changes: one conversion normalises a message.
func FuzzKernelFlow(f *testing.F) {
	for _, c := range capturedMessages(f) {
		f.Add(c.raw, uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, opts uint8) {
		o := ConvertOptions{WindowTracking: opts&1 != 0}
		if opts&2 != 0 {
			o.CommitTimeout = uint32(opts)
		}
		var m wire.Message
		if _, err := wire.Decode(b, &m); err != nil {
			return
		}
		switch {
		case m.Type.IsCT():
			// Through the cache's form: one pass normalises, as
			// through the kernel's.
			var c1 cache.Flow
			if err := CacheFromWire(&c1, &m.Flow); err == nil {
				c2 := cacheThroughWire(t, &c1, o)
				c3 := cacheThroughWire(t, &c2, o)
				if diff := cmp.Diff(c2, c3, cmpopts.EquateComparable(netip.Addr{}, cache.Name{})); diff != "" {
					t.Fatalf("second pass of a cache flow through the wire changed it (-first +second):\n%s", diff)
				}
			}
			var k1 ctnl.Flow
			if err := KernelFlow(&k1, &m.Flow, o); err != nil {
				return
			}
			if k1.Timeout != 0 {
				for _, op := range []ctnl.Op{ctnl.OpCreate, ctnl.OpUpdate, ctnl.OpDelete} {
					if _, _, err := ctnl.AppendRequest(nil, op, &k1); err != nil {
						t.Fatalf("%s of a converted flow: %v\nflow %+v", op, err, k1)
					}
				}
			}
			k2 := flowThroughWire(t, &k1, o)
			k3 := flowThroughWire(t, &k2, o)
			if diff := cmp.Diff(k2, k3, cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("second pass through the wire changed the flow (-first +second):\n%s", diff)
			}
		case m.Type.IsExp():
			var e1 ctnl.Expect
			if err := KernelExpect(&e1, &m.Exp, o); err != nil {
				return
			}
			for _, op := range []ctnl.Op{ctnl.OpCreate, ctnl.OpUpdate, ctnl.OpDelete} {
				if _, _, err := ctnl.AppendExpectRequest(nil, op, &e1); err != nil {
					t.Fatalf("%s of a converted expectation: %v\nexpectation %+v", op, err, e1)
				}
			}
			e2 := expectThroughWire(t, &e1, o)
			e3 := expectThroughWire(t, &e2, o)
			if diff := cmp.Diff(e2, e3, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("second pass through the wire changed the expectation (-first +second):\n%s", diff)
			}
		}
	})
}

func flowThroughWire(t *testing.T, k *ctnl.Flow, o ConvertOptions) ctnl.Flow {
	t.Helper()
	var m wire.Message
	m.Type = wire.TypeCTUpdate
	WireFlow(&m.Flow, k, o)
	b := wire.AppendMessage(nil, &m)
	var back wire.Message
	if _, err := wire.Decode(b, &back); err != nil {
		t.Fatalf("own message does not decode: %v", err)
	}
	var out ctnl.Flow
	if err := KernelFlow(&out, &back.Flow, o); err != nil {
		t.Fatalf("own message does not convert: %v\nfrom %+v", err, k)
	}
	return out
}

func cacheThroughWire(t *testing.T, c *cache.Flow, o ConvertOptions) cache.Flow {
	t.Helper()
	var m wire.Message
	m.Type = wire.TypeCTUpdate
	WireFromCache(&m.Flow, c, o)
	b := wire.AppendMessage(nil, &m)
	var back wire.Message
	if _, err := wire.Decode(b, &back); err != nil {
		t.Fatalf("own message does not decode: %v", err)
	}
	var out cache.Flow
	if err := CacheFromWire(&out, &back.Flow); err != nil {
		t.Fatalf("own message does not convert: %v\nfrom %+v", err, c)
	}
	return out
}

func expectThroughWire(t *testing.T, e *ctnl.Expect, o ConvertOptions) ctnl.Expect {
	t.Helper()
	var m wire.Message
	m.Type = wire.TypeExpNew
	WireExpect(&m.Exp, e, o)
	b := wire.AppendMessage(nil, &m)
	var back wire.Message
	if _, err := wire.Decode(b, &back); err != nil {
		t.Fatalf("own message does not decode: %v", err)
	}
	var out ctnl.Expect
	if err := KernelExpect(&out, &back.Exp, o); err != nil {
		t.Fatalf("own message does not convert: %v\nfrom %+v", err, e)
	}
	return out
}
