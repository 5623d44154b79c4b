package syncmode_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link/wire"
)

// expHelpers are the helpers the test expectations cycle through: the
// receiving side takes every one, there is no helper list there
// (conntrackd filters only what its own kernel reports).
var expHelpers = []string{"ftp", "sip", "tftp", "custom"}

// testExpect is expectation i, of master flow i (testFlow), for a data
// connection back to the client.
func testExpect(i int) cache.Expect {
	m := testFlow(i).Orig
	ones := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	return cache.Expect{
		Tuple: cache.Tuple{Src: m.Dst, Dst: m.Src, Proto: 6, DstPort: uint16(20000 + i%40000)},
		Has: cache.ExpHasMaster | cache.ExpHasMask | cache.ExpHasTimeout | cache.ExpHasFlags |
			cache.ExpHasClass | cache.ExpHasHelper,
		Master:  m,
		Mask:    cache.Tuple{Src: ones, Dst: ones, Proto: 6, DstPort: 0xffff},
		Timeout: 300,
		Helper:  cache.MakeName(expHelpers[i%len(expHelpers)]),
	}
}

func (n *node) createExp(i int, now time.Time) {
	e := testExpect(i)
	r, _ := n.expIn.Replace(&e, now)
	n.m.LocalExpect(r, now)
}

// updateExp changes expectation i's timeout, as an UPD message carries.
func (n *node) updateExp(i int, timeout uint32, now time.Time) {
	e := testExpect(i)
	e.Timeout = timeout
	r, _ := n.expIn.Update(&e, now)
	n.m.LocalExpect(r, now)
}

func (n *node) destroyExp(i int, now time.Time) {
	e := testExpect(i)
	if r, ok := n.expIn.Kill(e.Key()); ok {
		n.m.LocalExpect(r, now)
	}
}

// liveExps lists a cache's expectations that are not dead, as key ->
// timeout and helper.
func liveExps(c *cache.Expects) map[cache.ExpKey]string {
	out := map[cache.ExpKey]string{}
	for _, e := range c.All() {
		if e.State != cache.Dead {
			out[e.Expect.Key()] = fmt.Sprintf("%d %s master %v", e.Expect.Timeout, e.Expect.Helper, e.Expect.Master)
		}
	}
	return out
}

// sameExpects fails unless want's live expectations are exactly got's,
// timeout, helper and master included.
func sameExpects(t testing.TB, what string, want, got *cache.Expects) {
	t.Helper()
	w, g := liveExps(want), liveExps(got)
	var diffs []string
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %v", k.Tuple))
		} else if gv != v {
			diffs = append(diffs, fmt.Sprintf("%v: %s, want %s", k.Tuple, gv, v))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %v", k.Tuple))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 5 {
			diffs = append(diffs[:5], fmt.Sprintf("... %d differences", len(diffs)))
		}
		t.Fatalf("%s: %d expectations on the sender, %d on the receiver: %v", what, len(w), len(g), diffs)
	}
}

// Expectations created, updated and destroyed on A appear, change and
// disappear in B's external expectation cache, next to the flows, in
// every mode; a flow and an expectation with the same tuple are two
// objects, not one; A's destroyed expectations leave its cache once
// their DEL needs no keeping.
func TestReplicateExpectations(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: kind, refresh: 60 * time.Second, seed: 21, exps: true})
			nodes := []*node{a, b}
			now := t0
			for i := range 100 {
				a.create(i, now)
				a.createExp(i, now)
			}
			// A flow whose original tuple is expectation 0's
			// expected tuple: same cache.Ref (first slot of either
			// cache) and same key shape, still two objects.
			twin := testFlow(0)
			twin.Orig = testExpect(0).Tuple
			r, _ := a.internal.Replace(&twin, now)
			a.m.Local(r, now)
			run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, nodes, links)
			sameExpects(t, "after the creates", a.expIn, b.expExt)
			sameTables(t, "after the creates", a.internal, b.ext)
			for i := range 20 {
				a.updateExp(i, 1000+uint32(i), now)
			}
			for i := 50; i < 70; i++ {
				a.destroyExp(i, now)
			}
			// Coalescing: created and destroyed before a flush.
			a.createExp(5000, now)
			a.destroyExp(5000, now)
			run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
			sameExpects(t, "after updates and destroys", a.expIn, b.expExt)
			sameTables(t, "after updates and destroys", a.internal, b.ext)
			if n := a.expIn.Len(); n != 80 {
				t.Errorf("A's expectation cache holds %d objects, want 80 (the destroyed ones removed)", n)
			}
			if s := b.m.Stats(); s.Rejected != 0 || s.ExpIgnored != 0 || s.Malformed != 0 {
				t.Errorf("B's stats: %+v", s)
			}
		})
	}
}

// FT-FW recovers lost and reordered expectation messages as it does
// flows', in both directions, and releases every destroyed expectation.
func TestFTFWExpectationLoss(t *testing.T) {
	for seed := uint64(30); seed < 33; seed++ {
		a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: seed, loss: 0.3, reorder: true, exps: true})
		nodes := []*node{a, b}
		now := t0
		for round := range 15 {
			for i := range 60 {
				switch k := round*60 + i; round % 3 {
				case 0:
					a.create(k%300, now)
					a.createExp(k%300, now)
				case 1:
					a.updateExp(k%300, uint32(k), now)
				default:
					a.destroyExp((k*7)%300, now)
				}
			}
			b.createExp(10000+round, now)
			run(t, &now, now.Add(200*time.Millisecond), 10*time.Millisecond, nodes, links)
		}
		for _, l := range links {
			l.a.out[l.ai].loss, l.b.out[l.bi].loss = 0, 0
		}
		run(t, &now, now.Add(20*time.Second), 10*time.Millisecond, nodes, links)
		sameExpects(t, "A to B", a.expIn, b.expExt)
		sameExpects(t, "B to A", b.expIn, a.expExt)
		sameTables(t, "A to B", a.internal, b.ext)
		if n, l := a.expIn.Len(), len(liveExps(a.expIn)); n != l {
			t.Errorf("seed %d: A's expectation cache keeps %d destroyed objects", seed, n-l)
		}
		if len(a.out[0].dropped) == 0 {
			t.Fatal("nothing was lost: the test proves nothing")
		}
	}
}

// A bulk send (BulkSend, or a RESYNC answered) sends the expectations
// after every flow, so that the peer has their masters first.
func TestBulkSendExpectationsAfterFlows(t *testing.T) {
	for _, tc := range []struct {
		kind   syncmode.Kind
		resync bool
	}{{syncmode.FTFW, false}, {syncmode.FTFW, true}, {syncmode.NoTrack, false}, {syncmode.NoTrack, true}} {
		t.Run(fmt.Sprintf("%v resync=%v", tc.kind, tc.resync), func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: tc.kind, seed: 22, exps: true})
			nodes := []*node{a, b}
			now := t0
			for i := range 200 {
				a.createExp(i, now) // expectations first in time
			}
			for i := range 200 {
				a.create(i, now)
			}
			run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
			b.ext.Flush() // B lost its tables (conntrackd -f external)
			b.expExt.Flush()
			a.out[0].cut = true // record what A sends from here on
			if tc.resync {
				b.m.RequestResync()
				if err := b.m.Flush(now); err != nil {
					t.Fatal(err)
				}
				deliver(t, b.out[0], a, 0, now)
			} else {
				a.m.BulkSend()
			}
			if err := a.m.Flush(now); err != nil {
				t.Fatal(err)
			}
			var types []wire.Type
			var m wire.Message
			for _, d := range a.out[0].dropped {
				for len(d) > 0 {
					k, err := wire.Decode(d, &m)
					if err != nil {
						t.Fatal(err)
					}
					d = d[k:]
					if m.Type.IsCT() || m.Type.IsExp() {
						types = append(types, m.Type)
					}
				}
			}
			flows, exps, firstExp := 0, 0, -1
			for i, typ := range types {
				if typ.IsExp() {
					exps++
					if firstExp < 0 {
						firstExp = i
					}
				} else {
					flows++
					if firstExp >= 0 {
						t.Fatalf("flow message %d after the first expectation message %d", i, firstExp)
					}
				}
			}
			if flows < 200 || exps < 200 {
				t.Errorf("bulk of %d flow and %d expectation messages, want 200 of each", flows, exps)
			}
		})
	}
}

// Without SetExpectations, a node neither sends expectations nor takes
// them: received ones are counted and dropped, as before expectations
// were replicated.
func TestExpectationsOff(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			a := newNode(t, "a", nodeOpts{kind: kind, refresh: time.Minute, seed: 23, exps: true})
			b := newNode(t, "b", nodeOpts{kind: kind, refresh: time.Minute, seed: 24})
			now := t0
			for i := range 5 {
				a.createExp(i, now)
			}
			run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, []*node{a, b}, []link{{a, b, 0, 0}})
			if s := b.m.Stats(); s.ExpIgnored != 5 || s.Applied != 0 {
				t.Errorf("B counted %d expectation messages ignored and %d applied, want 5 and 0", s.ExpIgnored, s.Applied)
			}
			b.m.LocalExpect(cache.Ref{}, now) // nothing to send, no cache to read
			// Turned off with a change queued: it is not sent as
			// an object of the cache, and nothing breaks.
			a.updateExp(1, 77, now)
			a.m.SetExpectations(nil, nil, syncmode.ExpectConvert{})
			a.createExp(9, now)
			run(t, &now, now.Add(3*time.Second), 10*time.Millisecond, []*node{a, b}, []link{{a, b, 0, 0}})
			if s := b.m.Stats(); s.ExpIgnored > 6 {
				t.Errorf("A sent expectations after they were turned off: %d ignored", s.ExpIgnored)
			}
		})
	}
}

// Without an external expectation cache, received expectations go to
// InjectExpect with their message type, as flows go to Inject.
func TestInjectExpect(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			in, _ := cache.NewFlows(cache.Settings{Limit: 100})
			expIn, _ := cache.NewExpects(cache.Settings{Limit: 100})
			got := map[wire.Type]int{}
			var helpers []string
			s := syncmode.Settings{Kind: kind, MaxDatagram: 1472, RefreshTime: time.Minute,
				InjectExpect: func(typ wire.Type, e *cache.Expect) {
					got[typ]++
					helpers = append(helpers, e.Helper.String())
				}}
			b, err := syncmode.New(s, convert(), in, nil, []syncmode.Sender{&direct{}}, t0)
			if err != nil {
				t.Fatal(err)
			}
			b.SetExpectations(expIn, nil, expectConvert())
			a := newNode(t, "a", nodeOpts{kind: kind, refresh: time.Minute, seed: 25, exps: true})
			now := t0
			for _, event := range []func(){
				func() { a.createExp(1, now) },
				func() { a.updateExp(1, 99, now) },
				func() { a.destroyExp(1, now) },
			} {
				event()
				if err := a.m.Flush(now); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range a.out[0].take() {
				if err := b.Receive(0, d, now); err != nil {
					t.Fatal(err)
				}
			}
			want := map[wire.Type]int{wire.TypeExpNew: 1, wire.TypeExpUpdate: 1, wire.TypeExpDelete: 1}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(helpers) != 3 || helpers[0] != "sip" {
				t.Errorf("injected %v with helpers %v, want %v, each with helper sip", got, helpers, want)
			}
		})
	}
}

// ALARM refreshes expectations as it does flows; once A stops, B's
// expectations expire after CacheTimeout.
func TestAlarmExpectations(t *testing.T) {
	const refresh, timeout = 5 * time.Second, 15 * time.Second
	a, b, links := pair(t, nodeOpts{kind: syncmode.Alarm, refresh: refresh, lifetime: timeout, seed: 26, exps: true})
	nodes := []*node{a, b}
	now := t0
	for i := range 50 {
		a.createExp(i, now)
	}
	for range 6 {
		run(t, &now, now.Add(5*time.Second), 50*time.Millisecond, nodes, links)
		sameExpects(t, "while A refreshes", a.expIn, b.expExt)
	}
	if per := float64(a.m.Stats().Refreshes) / 50; per < 6 || per > 11 {
		t.Errorf("%.1f refreshes per expectation in 30 s, want about 8", per)
	}
	a.stopped = true
	stop := now
	run(t, &now, stop.Add(timeout+100*time.Millisecond), 50*time.Millisecond, nodes, links)
	if n := b.expExt.Len(); n != 0 {
		t.Fatalf("%v after A stopped, B still has %d expectations", now.Sub(stop), n)
	}
	if got := b.m.Stats().Expired; got != 50 {
		t.Errorf("B counted %d expiries, want 50", got)
	}
}

// A flush of A's expectation cache while updates wait deletes nothing on
// B: an expectation is sent with its last content, which a peer needs
// whole (master, mask), where a flow would go as a bare key.
func TestFTFWExpectationFlushDeletesNothing(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 27, exps: true})
	nodes := []*node{a, b}
	now := t0
	for i := range 10 {
		a.createExp(i, now)
	}
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	for i := range 10 {
		a.updateExp(i, 700, now) // queued, not yet sent
	}
	a.expIn.Flush()
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	got := liveExps(b.expExt)
	if len(got) != 10 {
		t.Fatalf("B has %d expectations after A's flush, want 10", len(got))
	}
	e := testExpect(4)
	if v := got[e.Key()]; v[:4] != "700 " {
		t.Errorf("expectation 4 on B is %q, want timeout 700 (A's last state)", v)
	}
	if s := b.m.Stats(); s.Rejected != 0 {
		t.Errorf("B rejected %d messages", s.Rejected)
	}
}
