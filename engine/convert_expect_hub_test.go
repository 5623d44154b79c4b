package engine

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

var t0 = time.Unix(1_800_000_000, 0)

func newExpects(t testing.TB) *cache.Expects {
	t.Helper()
	c, err := cache.NewExpects(cache.Settings{Buckets: 64, Limit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectThroughCaches is the path of an expectation with both caches: a
// kernel event into the internal cache, read back and sent, received
// into the external cache, read back and committed.
func expectThroughCaches(t *testing.T, e *ctnl.Expect, o ConvertOptions) ctnl.Expect {
	t.Helper()
	internal, external := newExpects(t), newExpects(t)
	var c cache.Expect
	CacheExpectFromKernel(&c, e)
	r, _ := internal.Replace(&c, t0)
	var in cache.ExpEntry
	if !internal.Get(r, &in) {
		t.Fatal("internal cache lost the expectation")
	}
	var m wire.Message
	m.Type = wire.TypeExpNew
	WireExpectFromCache(&m.Exp, &in.Expect, o)
	var back wire.Message
	if _, err := wire.Decode(wire.AppendMessage(nil, &m), &back); err != nil {
		t.Fatalf("own message does not decode: %v", err)
	}
	if err := CacheExpectFromWire(&c, &back.Exp); err != nil {
		t.Fatalf("own message does not convert: %v", err)
	}
	r, _ = external.Update(&c, t0)
	var ex cache.ExpEntry
	if !external.Get(r, &ex) {
		t.Fatal("external cache lost the expectation")
	}
	if _, ok := external.Find(c.Key()); !ok {
		t.Errorf("external cache does not find the expectation by its key %+v", c.Key())
	}
	var out ctnl.Expect
	if err := KernelExpectFromCache(&out, &ex.Expect, o); err != nil {
		t.Fatal(err)
	}
	return out
}

// An expectation that goes kernel -> cache -> wire -> cache -> kernel,
// stored in both caches on the way, arrives as the cache-less path
// (WireExpect, KernelExpect: what a node without caches does) delivers
// it, and as the kernel had it but for what the wire cannot carry.
func TestExpectThroughCaches(t *testing.T) {
	mask4 := tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff)
	all6 := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	for _, tc := range []struct {
		name string
		e    ctnl.Expect
		o    ConvertOptions
		want func(e *ctnl.Expect)
	}{{
		name: "FTP",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    mask4,
			Timeout: 300, Helper: "ftp",
		},
	}, {
		name: "FTP behind NAT, with function",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    mask4,
			Timeout: 300, Helper: "ftp", Function: "nat-follow-master",
			NAT: ctnl.ExpectNAT{Dir: 1, Tuple: tuple(protoTCP, "0.0.0.0", "0.0.0.0", 40011, 0)},
		},
	}, {
		name: "SIP over IPv6, flags and class, IPv6 NAT address lost",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "2001:db8::1", "2001:db8::2", 5060, 5060),
			Tuple:   tuple(protoUDP, "2001:db8::2", "2001:db8::1", 0, 16384),
			Mask:    tuple(protoUDP, all6, all6, 0, 0xffff),
			Timeout: 180, Helper: "sip", Function: "sip", Flags: 1, Class: 2,
			NAT: ctnl.ExpectNAT{Dir: 0, Tuple: tuple(protoUDP, "2001:db8::9", "::", 16390, 0)},
		},
		want: func(e *ctnl.Expect) { e.NAT.Tuple.Src = netip.IPv6Unspecified() },
	}, {
		name: "expected protocol without ports",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(156, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    tuple(156, "255.255.255.255", "255.255.255.255", 0, 0xffff),
			Timeout: 300,
		},
		want: func(e *ctnl.Expect) { e.Tuple.DstPort, e.Mask.DstPort = 0, 0 },
	}, {
		name: "GRE master: no ports at all",
		e: ctnl.Expect{
			Master:  tuple(protoGRE, "198.51.100.1", "198.51.100.2", 7, 9),
			Tuple:   tuple(protoGRE, "198.51.100.2", "198.51.100.1", 0, 9),
			Mask:    tuple(protoGRE, "255.255.255.255", "255.255.255.255", 0, 0xffff),
			Timeout: 60, Helper: "pptp",
		},
		want: func(e *ctnl.Expect) {
			e.Master.SrcPort, e.Master.DstPort = 0, 0
			e.Tuple.DstPort, e.Mask.DstPort = 0, 0
		},
	}, {
		name: "zone and ID are not sent",
		e: ctnl.Expect{
			Master: tuple(protoUDP, "198.51.100.1", "198.51.100.2", 1, 69),
			Tuple:  tuple(protoUDP, "198.51.100.2", "198.51.100.1", 0, 1),
			Mask:   mask4, Timeout: 5, Zone: 3, ID: 99, Helper: "tftp",
		},
		want: func(e *ctnl.Expect) { e.Zone, e.ID = 0, 0 },
	}, {
		name: "CommitTimeout: the timeout is not sent, the receiver's is used",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    mask4,
			Timeout: 300, Helper: "ftp",
		},
		o:    ConvertOptions{CommitTimeout: 17},
		want: func(e *ctnl.Expect) { e.Timeout = 17 },
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := expectThroughCaches(t, &tc.e, tc.o)
			want := tc.e
			if tc.want != nil {
				tc.want(&want)
			}
			opts := cmpopts.EquateComparable(netip.Addr{})
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("expectation through the caches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(expectThroughWire(t, &tc.e, tc.o), got, opts); diff != "" {
				t.Errorf("through the caches differs from without them (-without +with):\n%s", diff)
			}
		})
	}
}

// Every expectation message conntrackd 1.4.7 sent, stored in a cache and
// sent again from it, is the message the cache-less path re-encodes.
func TestCapturedExpectationsThroughCache(t *testing.T) {
	c := newExpects(t)
	n := 0
	for _, m := range capturedMessages(t) {
		if !m.msg.Type.IsExp() {
			continue
		}
		n++
		var e cache.Expect
		if err := CacheExpectFromWire(&e, &m.msg.Exp); err != nil {
			t.Fatalf("%s: %v", m.where, err)
		}
		r, _ := c.Replace(&e, t0)
		var got cache.ExpEntry
		c.Get(r, &got)
		var w1, w2 wire.Message
		w1.Header, w2.Header = m.msg.Header, m.msg.Header
		WireExpectFromCache(&w1.Exp, &got.Expect, captureOptions)
		var k ctnl.Expect
		if err := KernelExpect(&k, &m.msg.Exp, captureOptions); err != nil {
			t.Fatal(err)
		}
		WireExpect(&w2.Exp, &k, captureOptions)
		if a, b := wire.AppendMessage(nil, &w1), wire.AppendMessage(nil, &w2); !bytes.Equal(a, b) {
			t.Errorf("%s: from the cache\n%x\nwithout it\n%x", m.where, a, b)
		}
	}
	if n == 0 {
		t.Fatal("no expectation message in the captures")
	}
}

// A committed expectation gets conntrackd's timeout (src/cache-exp.c):
// CommitTimeout, else the peer's aged by the time in the cache.
func TestCommitExpect(t *testing.T) {
	e := cache.ExpEntry{Expect: cache.Expect{
		Master: cache.Tuple(tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21)),
		Tuple:  cache.Tuple(tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010)),
		Mask:   cache.Tuple(tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff)),
		Has:    cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasTimeout,
	}, Updated: t0}
	for _, tc := range []struct {
		name    string
		timeout uint32
		age     time.Duration
		fixed   uint32
		want    uint32
	}{
		{"fixed CommitTimeout", 300, 10 * time.Second, 30, 30},
		{"aged", 300, 10 * time.Second, 0, 290},
		{"aged, fraction of a second", 300, 1500 * time.Millisecond, 0, 299},
		{"nothing left: the message's", 10, 10 * time.Second, 0, 10},
		{"past: one minute", 10, 11 * time.Second, 0, 60},
		{"clock went back: one minute of age", 300, -5 * time.Second, 0, 240},
		{"no timeout received", 0, 0, 0, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Expect.Timeout = tc.timeout
			var k ctnl.Expect
			if err := CommitExpect(&k, &e, t0.Add(tc.age), ConvertOptions{CommitTimeout: tc.fixed}); err != nil {
				t.Fatal(err)
			}
			if k.Timeout != tc.want {
				t.Errorf("timeout %d, want %d", k.Timeout, tc.want)
			}
		})
	}
}

// A cached expectation without master or mask (none from the
// conversions has that) is refused rather than written half.
func TestKernelExpectFromCacheIncomplete(t *testing.T) {
	e := cache.Expect{Tuple: cache.Tuple(tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010))}
	var k ctnl.Expect
	if err := KernelExpectFromCache(&k, &e, ConvertOptions{}); err == nil {
		t.Errorf("expectation without master written: %+v", k)
	}
}

// FuzzCacheExpectFromWire: whatever a peer sends, turning it into the
// cache's expectation either fails with an error or gives one that the
// cache keeps as it is, that ctnl can write, and that one more trip
// through the wire no longer changes.
func FuzzCacheExpectFromWire(f *testing.F) {
	for _, c := range capturedMessages(f) {
		if c.msg.Type.IsExp() {
			f.Add(c.raw)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m wire.Message
		if _, err := wire.Decode(b, &m); err != nil || !m.Type.IsExp() {
			return
		}
		var e1 cache.Expect
		if err := CacheExpectFromWire(&e1, &m.Exp); err != nil {
			return
		}
		c := newExpects(t)
		r, _ := c.Replace(&e1, t0)
		var got cache.ExpEntry
		if !c.Get(r, &got) {
			t.Fatal("cache refused the expectation")
		}
		opts := cmpopts.EquateComparable(netip.Addr{}, cache.Name{})
		if diff := cmp.Diff(e1, got.Expect, opts); diff != "" {
			t.Fatalf("the cache changed the expectation (-stored +read):\n%s", diff)
		}
		var k ctnl.Expect
		if err := KernelExpectFromCache(&k, &e1, ConvertOptions{}); err != nil {
			t.Fatalf("a converted expectation cannot be written: %v", err)
		}
		for _, op := range []ctnl.Op{ctnl.OpCreate, ctnl.OpUpdate, ctnl.OpDelete} {
			if _, _, err := ctnl.AppendExpectRequest(nil, op, &k); err != nil {
				t.Fatalf("%s of a converted expectation: %v\nexpectation %+v", op, err, k)
			}
		}
		var w wire.Expect
		WireExpectFromCache(&w, &e1, ConvertOptions{})
		var e2, e3 cache.Expect
		if err := CacheExpectFromWire(&e2, &w); err != nil {
			t.Fatalf("own message refused: %v", err)
		}
		WireExpectFromCache(&w, &e2, ConvertOptions{})
		if err := CacheExpectFromWire(&e3, &w); err != nil {
			t.Fatalf("own message refused: %v", err)
		}
		if diff := cmp.Diff(e2, e3, opts); diff != "" {
			t.Fatalf("second pass through the wire changed the expectation (-first +second):\n%s", diff)
		}
	})
}
