package syncmode_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

var t0 = time.Unix(1_800_000_000, 0)

func convert() syncmode.Convert {
	return syncmode.Convert{
		ToWire: func(dst *wire.Flow, f *cache.Flow) {
			engine.WireFromCache(dst, f, engine.ConvertOptions{})
		},
		FromWire:     engine.CacheFromWire,
		ResolvePorts: engine.ResolvePorts,
	}
}

// pipe is one direction of the sync link: datagrams queued until delivered,
// some lost, some delivered out of order.
type pipe struct {
	q       [][]byte
	loss    float64
	reorder bool
	cut     bool // partition: everything is lost
	rng     *rand.Rand
	dropped [][]byte
	maxLen  int // the longest datagram sent
}

func (p *pipe) Send(b []byte) error {
	p.maxLen = max(p.maxLen, len(b))
	if p.cut || (p.loss > 0 && p.rng.Float64() < p.loss) {
		p.dropped = append(p.dropped, append([]byte(nil), b...))
		return nil
	}
	p.q = append(p.q, append([]byte(nil), b...))
	return nil
}

// take returns the queued datagrams, shuffled when the pipe reorders.
func (p *pipe) take() [][]byte {
	q := p.q
	p.q = nil
	if p.reorder {
		p.rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
	}
	return q
}

type node struct {
	name          string
	internal, ext *cache.Flows
	expIn, expExt *cache.Expects // with nodeOpts.exps
	m             *syncmode.Mode
	out           []*pipe // one per peer
	stopped       bool    // a node that stopped runs no timers and sends nothing
}

type nodeOpts struct {
	kind     syncmode.Kind
	peers    int
	lifetime time.Duration // external cache (ALARM's CacheTimeout)
	refresh  time.Duration
	seed     uint64
	loss     float64
	reorder  bool
	// senders, when set, replace the pipes (benchmarks).
	senders []syncmode.Sender
	// exps turns on expectations, with both caches.
	exps bool
}

func newNode(t testing.TB, name string, o nodeOpts) *node {
	t.Helper()
	in, err := cache.NewFlows(cache.Settings{Buckets: 1024, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := cache.NewFlows(cache.Settings{Buckets: 1024, Limit: 1 << 20, Lifetime: o.lifetime})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, internal: in, ext: ext}
	var senders []syncmode.Sender
	for i := 0; i < max(o.peers, 1); i++ {
		p := &pipe{loss: o.loss, reorder: o.reorder, rng: rand.New(rand.NewPCG(o.seed, uint64(i)+uint64(len(name))))}
		n.out = append(n.out, p)
		senders = append(senders, p)
	}
	s := syncmode.Settings{
		Kind:        o.kind,
		MaxDatagram: 1472,
		FTFW:        ftfw.Config{ResendTimeout: ftfw.DefaultResendTimeout},
		RefreshTime: o.refresh,
		Rand:        rand.New(rand.NewPCG(o.seed, 7)),
	}
	if o.senders != nil {
		senders = o.senders
	}
	n.m, err = syncmode.New(s, convert(), in, ext, senders, t0)
	if err != nil {
		t.Fatal(err)
	}
	if o.exps {
		n.expIn, err = cache.NewExpects(cache.Settings{Buckets: 64, Limit: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		n.expExt, err = cache.NewExpects(cache.Settings{Buckets: 64, Limit: 1 << 16, Lifetime: o.lifetime})
		if err != nil {
			t.Fatal(err)
		}
		n.m.SetExpectations(n.expIn, n.expExt, expectConvert())
	}
	return n
}

func expectConvert() syncmode.ExpectConvert {
	return syncmode.ExpectConvert{
		ToWire: func(dst *wire.Expect, e *cache.Expect) {
			engine.WireExpectFromCache(dst, e, engine.ConvertOptions{})
		},
		FromWire: engine.CacheExpectFromWire,
	}
}

// link connects a's peer ai with b's peer bi.
type link struct {
	a, b   *node
	ai, bi int
}

// run advances the clock from *now to until in steps, delivering everything
// and running every node's timers, as the engine's loop would.
func run(t testing.TB, now *time.Time, until time.Time, step time.Duration, nodes []*node, links []link) {
	t.Helper()
	for {
		for _, n := range nodes {
			if n.stopped {
				continue
			}
			if !now.Before(n.m.NextTimer()) {
				n.m.Tick(*now)
			}
			if err := n.m.Flush(*now); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range links {
			deliver(t, l.a.out[l.ai], l.b, l.bi, *now)
			deliver(t, l.b.out[l.bi], l.a, l.ai, *now)
		}
		if !now.Before(until) {
			return
		}
		*now = now.Add(step)
	}
}

func deliver(t testing.TB, p *pipe, to *node, peer int, now time.Time) {
	t.Helper()
	for _, d := range p.take() {
		if to.stopped {
			continue
		}
		if err := to.m.Receive(peer, d, now); err != nil {
			t.Fatalf("%s: %v", to.name, err)
		}
	}
}

// testFlow is TCP flow i, in the range for synthetic entries.
func testFlow(i int) cache.Flow {
	return cache.Flow{
		Orig: cache.Tuple{
			Src:     netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
			Dst:     netip.AddrFrom4([4]byte{198, 19, 0, 1}),
			Proto:   6,
			SrcPort: uint16(10000 + i%50000),
			DstPort: 80,
		},
		Has:      cache.HasStatus | cache.HasTimeout | cache.HasMark | cache.HasTCPState,
		Status:   0xe, // SEEN_REPLY|ASSURED|CONFIRMED
		Timeout:  120,
		Mark:     uint32(i),
		TCPState: 3, // ESTABLISHED
	}
}

// events drives a node's internal cache as the engine does from kernel
// events, and tells the mode.
func (n *node) create(i int, now time.Time) {
	f := testFlow(i)
	r, _ := n.internal.Replace(&f, now)
	n.m.Local(r, now)
}

func (n *node) update(i int, mark uint32, now time.Time) {
	f := testFlow(i)
	f.Mark = mark
	r, _ := n.internal.Update(&f, now)
	n.m.Local(r, now)
}

func (n *node) destroy(i int, now time.Time) {
	f := testFlow(i)
	if r, ok := n.internal.Kill(f.Key()); ok {
		n.m.Local(r, now)
	}
}

// live lists a cache's flows that are not dead, as key -> mark.
func live(c *cache.Flows) map[cache.Key]uint32 {
	out := map[cache.Key]uint32{}
	for _, e := range c.All() {
		if e.State != cache.Dead {
			out[e.Flow.Key()] = e.Flow.Mark
		}
	}
	return out
}

// sameTables fails unless want's live flows are exactly got's, marks
// included.
func sameTables(t testing.TB, what string, want, got *cache.Flows) {
	t.Helper()
	w, g := live(want), live(got)
	var diffs []string
	for k, m := range w {
		if gm, ok := g[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %v", k.Orig))
		} else if gm != m {
			diffs = append(diffs, fmt.Sprintf("%v: mark %d, want %d", k.Orig, gm, m))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %v", k.Orig))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 5 {
			diffs = append(diffs[:5], fmt.Sprintf("... %d differences", len(diffs)))
		}
		t.Fatalf("%s: %d flows on the sender, %d on the receiver: %v", what, len(w), len(g), diffs)
	}
}
