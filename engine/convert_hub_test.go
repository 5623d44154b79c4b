package engine

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// Every conntrack message conntrackd sent, received into an external
// cache's flow and sent again from it, is the message that was sent, byte
// for byte: the cache's form loses nothing a legacy peer sends (SYNPROXY,
// an absent MARK and stale DCCP ports included).
func TestCaptureThroughCache(t *testing.T) {
	var c cache.Flow
	var w wire.Message
	n := 0
	for _, m := range capturedMessages(t) {
		if !m.msg.Type.IsCT() {
			continue
		}
		n++
		if err := CacheFromWire(&c, &m.msg.Flow); err != nil {
			t.Fatalf("%s: %v", m.where, err)
		}
		w.Header = m.msg.Header
		WireFromCache(&w.Flow, &c, captureOptions)
		if got := wire.AppendMessage(nil, &w); !bytes.Equal(got, m.raw) {
			t.Errorf("%s: %s: through the cache\n%x\nwant\n%x", m.where, m.msg.Type, got, m.raw)
		}
	}
	if n != 410 {
		t.Errorf("%d conntrack messages in the captures, want 410", n)
	}
}

// An update the kernel reports without the protocol state, labels or
// sequence adjustment leaves them in the internal cache, and the message
// sent from the cache still carries them, as conntrackd's cache merge does
// (src/cache.c). Without a cache (WireFlow) they are not sent.
func TestInternalCacheMerge(t *testing.T) {
	c, err := cache.NewFlows(cache.Settings{Buckets: 16, Limit: 16})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name  string
		first ctnl.Flow
		attrs []wire.Attr
	}{{
		name: "SCTP state",
		first: kernelFlow(tuple(protoSCTP, "198.18.0.50", "198.18.0.51", 2905, 2906), func(f *ctnl.Flow) {
			f.Present |= ctnl.HasProtoInfo
			f.SCTP = ctnl.SCTPInfo{State: 3, VTagOrig: 1, VTagReply: 2}
		}),
		attrs: []wire.Attr{wire.AttrSCTPState, wire.AttrSCTPVTagOrig, wire.AttrSCTPVTagReply},
	}, {
		name:  "TCP state and scales",
		first: kernelFlow(tuple(protoTCP, "198.18.0.10", "198.18.0.20", 1234, 80), tcpState(3)),
		attrs: []wire.Attr{wire.AttrTCPState, wire.AttrTCPWScaleOrig, wire.AttrTCPWScaleRepl},
	}, {
		name: "labels and sequence adjustment",
		first: kernelFlow(tuple(protoUDP, "198.18.0.30", "198.18.0.31", 1, 2), func(f *ctnl.Flow) {
			f.Labels = labels(5)
			f.Present |= ctnl.HasSeqAdj
			f.SeqAdjOrig.OffsetAfter = 4
		}),
		attrs: []wire.Attr{wire.AttrLabels, wire.AttrNATSeqAdj},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			// The update: same flow, none of the attributes.
			upd := tc.first
			upd.Present, upd.Labels = 0, nil
			upd.TCP, upd.SCTP = ctnl.TCPInfo{}, ctnl.SCTPInfo{}
			upd.Mark = 9
			var f cache.Flow
			CacheFromKernel(&f, &tc.first)
			c.Update(&f, now)
			CacheFromKernel(&f, &upd)
			r, _ := c.Update(&f, now)
			var e cache.Entry
			c.Get(r, &e)
			var w wire.Flow
			WireFromCache(&w, &e.Flow, ConvertOptions{WindowTracking: true})
			for _, a := range tc.attrs {
				if !w.Has(a) {
					t.Errorf("from the cache: attribute %d lost by the update", a)
				}
			}
			if w.Mark != 9 {
				t.Errorf("mark %d, want the update's 9", w.Mark)
			}
			WireFlow(&w, &upd, ConvertOptions{WindowTracking: true})
			for _, a := range tc.attrs {
				if w.Has(a) {
					t.Errorf("without a cache: attribute %d sent, but the update lacks it", a)
				}
			}
		})
	}
}

// What key a received SCTP or DCCP flow gets: its ports when trusted (with
// the state) or known (an update or DEL without state of a flow its NEW
// created), none otherwise (stale bytes of a legacy sender).
func TestResolvePorts(t *testing.T) {
	msg := func(proto uint8, state bool) wire.Flow {
		var w wire.Flow
		w.Orig = wire.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: proto, SrcPort: 1000, DstPort: 2000}
		w.Set(wire.AttrIPv4)
		w.Set(wire.AttrL4Proto)
		w.Set(wire.AttrPort)
		if state && proto == protoSCTP {
			w.SCTPState = 3
			w.Set(wire.AttrSCTPState)
		}
		if state && proto == protoDCCP {
			w.DCCPState = 4
			w.Set(wire.AttrDCCPState)
		}
		return w
	}
	withPorts := cache.Key{Orig: cache.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: protoSCTP, SrcPort: 1000, DstPort: 2000}}
	for _, tc := range []struct {
		name  string
		w     wire.Flow
		known []cache.Key
		ports bool
	}{
		{"SCTP with state", msg(protoSCTP, true), nil, true},
		{"DCCP with state", msg(protoDCCP, true), nil, true},
		{"SCTP without state, flow known with its ports", msg(protoSCTP, false), []cache.Key{withPorts}, true},
		{"SCTP without state, unknown flow", msg(protoSCTP, false), nil, false},
		{"DCCP without state, unknown flow (stale ports)", msg(protoDCCP, false), nil, false},
		{"TCP without state", msg(protoTCP, false), nil, true},
		{"UDP", msg(protoUDP, false), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f cache.Flow
			if err := CacheFromWire(&f, &tc.w); err != nil {
				t.Fatal(err)
			}
			ResolvePorts(&f, func(k cache.Key) bool {
				for _, x := range tc.known {
					if x == k {
						return true
					}
				}
				return false
			})
			if got := f.Orig.SrcPort|f.Orig.DstPort != 0; got != tc.ports {
				t.Errorf("ports %d %d kept %v, want %v", f.Orig.SrcPort, f.Orig.DstPort, got, tc.ports)
			}
		})
	}
}

// A commit walk gives every flow once, every master before any related
// flow, whatever the cache's order and the step size.
func TestCommitWalk(t *testing.T) {
	for _, step := range []int{1, 2, 3, 100} {
		t.Run(fmt.Sprint("step ", step), func(t *testing.T) {
			c, err := cache.NewFlows(cache.Settings{Buckets: 64, Limit: 64})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1000, 0)
			want := map[cache.Key]bool{}
			for i := range 20 {
				f := cache.Flow{Orig: cache.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: protoTCP, SrcPort: uint16(1000 + i), DstPort: 21}}
				// Related flows first in the cache's order.
				if i < 10 {
					f.Master = cache.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: protoTCP, SrcPort: uint16(1010 + i), DstPort: 21}
					f.Has |= cache.HasMaster
				}
				c.Update(&f, now)
				want[f.Key()] = f.Has&cache.HasMaster != 0
			}
			var w CommitWalk
			seenRelated := false
			got := map[cache.Key]int{}
			steps := 0
			for !w.Step(c, step, func(_ cache.Ref, e *cache.Entry) {
				rel := e.Flow.Has&cache.HasMaster != 0
				if !rel && seenRelated {
					t.Errorf("master %v after a related flow", e.Flow.Orig)
				}
				seenRelated = seenRelated || rel
				got[e.Flow.Key()]++
			}) {
				if steps++; steps > 1000 {
					t.Fatal("walk does not end")
				}
			}
			for k := range want {
				if got[k] != 1 {
					t.Errorf("%v committed %d times", k.Orig, got[k])
				}
			}
			if !w.Step(c, step, func(cache.Ref, *cache.Entry) { t.Error("a done walk visits") }) {
				t.Error("a done walk is not done")
			}
		})
	}
}

// A commit writes the peer's timeout aged by the time since the entry's
// update, or CommitTimeout.
func TestCommitFlow(t *testing.T) {
	e := cache.Entry{
		Flow:    cache.Flow{Orig: cache.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: protoUDP, SrcPort: 1, DstPort: 2}, Has: cache.HasTimeout, Timeout: 100},
		Updated: time.Unix(1000, 0),
	}
	var k ctnl.Flow
	for _, tc := range []struct {
		o    ConvertOptions
		want uint32
	}{{ConvertOptions{}, 70}, {ConvertOptions{CommitTimeout: 5}, 5}} {
		if err := CommitFlow(&k, &e, time.Unix(1030, 0), tc.o); err != nil {
			t.Fatal(err)
		}
		if k.Timeout != tc.want {
			t.Errorf("options %+v: timeout %d, want %d", tc.o, k.Timeout, tc.want)
		}
	}
}

// The four hub conversions allocate nothing when converting into the same
// values again, for a flow with every attribute kind and a helper the
// kernel knows.
func TestHubAllocs(t *testing.T) {
	f := kernelFlow(tuple(protoTCP, "198.51.100.66", "198.51.100.65", 20, 40010), both(tcpState(3), func(f *ctnl.Flow) {
		f.Master = tuple(protoTCP, "203.0.113.2", "198.51.100.66", 51360, 21)
		f.Helper = "ftp"
		f.Present |= ctnl.HasSeqAdj
		f.Labels = labels(3)
		f.Reply.Dst, f.Reply.DstPort = addr("203.0.113.1"), 4000
		f.Status |= ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone
	}))
	o := ConvertOptions{WindowTracking: true}
	var c, c2 cache.Flow
	var w wire.Flow
	var k ctnl.Flow
	n := testing.AllocsPerRun(100, func() {
		CacheFromKernel(&c, &f)
		WireFromCache(&w, &c, o)
		if err := CacheFromWire(&c2, &w); err != nil {
			t.Fatal(err)
		}
		if err := KernelFromCache(&k, &c2, o); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per round, want 0", n)
	}
	want := f
	want.ID = 0
	want.DeriveNAT()
	want.TCP.FlagsOrig = ctnl.TCPFlags{Flags: ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale, Mask: ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale}
	want.TCP.FlagsReply = want.TCP.FlagsOrig
	if diff := cmp.Diff(want, k, cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("kernel -> cache -> wire -> cache -> kernel (-want +got):\n%s", diff)
	}
}
