package syncmode_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link/wire"
)

var allKinds = []syncmode.Kind{syncmode.FTFW, syncmode.NoTrack, syncmode.Alarm}

func pair(t *testing.T, o nodeOpts) (a, b *node, links []link) {
	a = newNode(t, "a", o)
	o.seed++
	b = newNode(t, "b", o)
	return a, b, []link{{a, b, 0, 0}}
}

// Flows created, updated and destroyed on A's internal cache appear, change
// and disappear in B's external cache, and A's destroyed objects leave its
// cache once their DEL needs no keeping.
func TestReplicate(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: kind, refresh: 60 * time.Second, seed: 1})
			nodes := []*node{a, b}
			now := t0
			for i := range 300 {
				a.create(i, now)
			}
			run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, nodes, links)
			if got := len(live(b.ext)); got != 300 {
				t.Fatalf("after the creates: %d flows on B, want 300", got)
			}
			for i := range 100 {
				a.update(i, 1000+uint32(i), now)
			}
			for i := 200; i < 250; i++ {
				a.destroy(i, now)
			}
			// Coalescing: created, updated and destroyed before a flush.
			a.create(5000, now)
			a.update(5000, 1, now)
			a.destroy(5000, now)
			run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
			sameTables(t, "after updates and destroys", a.internal, b.ext)
			f7 := testFlow(7)
			if got := live(b.ext)[f7.Key()]; got != 1007 {
				t.Errorf("flow 7 on B has mark %d, want 1007", got)
			}
			if n := a.internal.Len(); n != 250 {
				t.Errorf("A's internal cache holds %d objects, want 250 (the destroyed ones removed)", n)
			}
			if s := b.m.Stats(); s.Malformed != 0 || s.Rejected != 0 || s.Lost != 0 {
				t.Errorf("B's stats: %+v", s)
			}
		})
	}
}

// A RESYNC request makes the peer send its whole table; ALARM has none (its
// refreshes do that job).
func TestResyncRequest(t *testing.T) {
	for _, kind := range []syncmode.Kind{syncmode.FTFW, syncmode.NoTrack} {
		t.Run(kind.String(), func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: kind, seed: 2})
			nodes := []*node{a, b}
			now := t0
			a.out[0].cut = true // B was not listening
			for i := range 2000 {
				a.create(i, now)
			}
			for i := range 10 {
				a.update(i, 77, now)
			}
			run(t, &now, now.Add(time.Second), 10*time.Millisecond, nodes, links)
			a.out[0].cut = false
			if got := len(live(b.ext)); got != 0 {
				t.Fatalf("B has %d flows before asking", got)
			}
			b.m.RequestResync()
			run(t, &now, now.Add(500*time.Millisecond), 10*time.Millisecond, nodes, links)
			sameTables(t, "after the resync", a.internal, b.ext)
			// The bulk is packed into full datagrams, none above the limit.
			if l := a.out[0].maxLen; l > 1472 || l < 1300 {
				t.Errorf("longest datagram %d bytes, want 1300 to 1472", l)
			}
			if a.m.Stats().Bulks < 1 {
				t.Errorf("A did %d bulk sends, want at least 1", a.m.Stats().Bulks)
			}
		})
	}
}

// ALARM: the refresh timers keep B's entries alive past CacheTimeout while A
// runs; once A stops, B's entries expire after CacheTimeout, not before.
func TestAlarmRefreshAndExpiry(t *testing.T) {
	const refresh, timeout = 5 * time.Second, 15 * time.Second
	a, b, links := pair(t, nodeOpts{kind: syncmode.Alarm, refresh: refresh, lifetime: timeout, seed: 3})
	nodes := []*node{a, b}
	now := t0
	for i := range 500 {
		a.create(i, now)
	}
	for range 12 { // a minute, checked every 5 s
		run(t, &now, now.Add(5*time.Second), 50*time.Millisecond, nodes, links)
		sameTables(t, "while A refreshes", a.internal, b.ext)
	}
	st := a.m.Stats()
	// Each flow is re-sent every 1..5 s plus 0.2..1 s: 3.6 s on average,
	// so about 60/3.6 ≈ 16 times a minute.
	if per := float64(st.Refreshes) / 500; per < 12 || per > 22 {
		t.Errorf("%.1f refreshes per flow in a minute, want about 16", per)
	}
	a.stopped = true
	stop := now
	run(t, &now, stop.Add(timeout-refresh-2*time.Second), 50*time.Millisecond, nodes, links)
	if got := len(live(b.ext)); got != 500 {
		t.Fatalf("%v after A stopped, B has %d flows, want all 500", now.Sub(stop), got)
	}
	run(t, &now, stop.Add(timeout+100*time.Millisecond), 50*time.Millisecond, nodes, links)
	if got := b.ext.Len(); got != 0 {
		t.Fatalf("%v after A stopped, B still has %d flows", now.Sub(stop), got)
	}
	if b.m.Stats().Expired != 500 {
		t.Errorf("B counted %d expiries, want 500", b.m.Stats().Expired)
	}
}

// FT-FW converges under heavy loss and reordering in both directions, with
// ftfw.DefaultResendTimeout, and releases every destroyed object.
func TestFTFWLoss(t *testing.T) {
	for seed := uint64(10); seed < 14; seed++ {
		// Loss from the start: data sent before the peer answered our
		// HELLO must be recovered too.
		a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: seed, loss: 0.3, reorder: true})
		nodes := []*node{a, b}
		now := t0
		for round := range 20 {
			for i := range 100 {
				switch k := round*100 + i; {
				case round%3 == 0:
					a.create(k%700, now)
				case round%3 == 1:
					a.update(k%700, uint32(k), now)
				default:
					a.destroy((k*7)%700, now)
				}
			}
			run(t, &now, now.Add(200*time.Millisecond), 10*time.Millisecond, nodes, links)
		}
		for i := range 50 {
			b.create(10000+i, now) // traffic the other way too
		}
		for _, l := range links {
			l.a.out[l.ai].loss, l.b.out[l.bi].loss = 0, 0
		}
		run(t, &now, now.Add(20*time.Second), 10*time.Millisecond, nodes, links)
		sameTables(t, "A to B", a.internal, b.ext)
		sameTables(t, "B to A", b.internal, a.ext)
		if n, l := a.internal.Len(), len(live(a.internal)); n != l {
			t.Errorf("seed %d: A's internal cache keeps %d destroyed objects", seed, n-l)
		}
	}
}

// One session per peer: with two peers, each gets the table, and a
// destroyed object stays in A's cache until both acknowledged its DEL.
func TestFTFWFanOut(t *testing.T) {
	o := nodeOpts{kind: syncmode.FTFW, peers: 2, seed: 4}
	a := newNode(t, "a", o)
	o.peers, o.seed = 1, 5
	b := newNode(t, "b", o)
	o.seed = 6
	c := newNode(t, "c", o)
	nodes := []*node{a, b, c}
	links := []link{{a, b, 0, 0}, {a, c, 1, 0}}
	now := t0
	for i := range 100 {
		a.create(i, now)
	}
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	sameTables(t, "to B", a.internal, b.ext)
	sameTables(t, "to C", a.internal, c.ext)
	a.out[1].cut = true
	a.destroy(3, now)
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	sameTables(t, "to B", a.internal, b.ext)
	if a.internal.Len() != 100 {
		t.Fatalf("A removed the destroyed flow before C acknowledged its DEL")
	}
	a.out[1].cut = false
	run(t, &now, now.Add(10*time.Second), 10*time.Millisecond, nodes, links)
	sameTables(t, "to C", a.internal, c.ext)
	if a.internal.Len() != 99 {
		t.Fatalf("A's cache holds %d objects, want 99", a.internal.Len())
	}
}

// A flush of A's internal cache while updates wait for transmission
// deletes nothing on B: a flow the cache has again (reloaded from the
// kernel) is sent as it is now, the others as a bare update.
func TestFTFWInternalFlushDeletesNothing(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 8})
	nodes := []*node{a, b}
	now := t0
	for i := range 10 {
		a.create(i, now)
	}
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	for i := range 10 {
		a.update(i, 500+uint32(i), now) // queued, not yet sent
	}
	a.internal.Flush()
	f := testFlow(3)
	f.Mark = 42
	a.internal.Replace(&f, now) // the reload found flow 3 only
	run(t, &now, now.Add(2*time.Second), 10*time.Millisecond, nodes, links)
	got := live(b.ext)
	if len(got) != 10 {
		t.Fatalf("B has %d flows after A's internal flush, want 10", len(got))
	}
	if got[f.Key()] != 42 {
		t.Errorf("flow 3 on B has mark %d, want 42 (A's current state)", got[f.Key()])
	}
}

// messages counts the messages in datagrams.
func messages(t *testing.T, ds [][]byte) (n int, types map[wire.Type]int) {
	t.Helper()
	types = map[wire.Type]int{}
	var m wire.Message
	for _, d := range ds {
		for len(d) > 0 {
			k, err := wire.Decode(d, &m)
			if err != nil {
				t.Fatal(err)
			}
			d = d[k:]
			n++
			types[m.Type]++
		}
	}
	return n, types
}

// Every mode counts the messages a peer's sequence numbers show lost, as
// conntrackd does (src/network.c): NOTRACK and ALARM recover nothing, so
// the counter is how an operator learns that the backup diverged, and
// they count exactly, every message of a lost datagram being a number
// the receiver saw skipped. FT-FW's count may miss a lost message it
// need not track (one that said HELLO), never add one.
func TestModesCountLoss(t *testing.T) {
	for _, tc := range []struct {
		kind  syncmode.Kind
		exact bool
	}{
		{syncmode.NoTrack, true},
		{syncmode.Alarm, true},
		{syncmode.FTFW, false},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			a, b, links := pair(t, nodeOpts{kind: tc.kind, seed: 11, loss: 0.3, refresh: time.Hour})
			nodes := []*node{a, b}
			now := t0
			for round := range 20 {
				for i := range 50 {
					a.update(round*50+i, uint32(round), now)
				}
				run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, nodes, links)
			}
			a.out[0].loss = 0
			a.update(0, 1, now) // a last message shows the gap before it
			run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, nodes, links)
			lost, _ := messages(t, a.out[0].dropped)
			if lost == 0 {
				t.Fatal("nothing was dropped: the test proves nothing")
			}
			got := b.m.Stats().Lost
			if got == 0 || got > uint64(lost) || (tc.exact && got != uint64(lost)) {
				t.Errorf("B counted %d lost messages, the link dropped %d", got, lost)
			}
		})
	}
}

// ALARM re-sends a flow that was never updated as NEW each time (conntrackd
// does, observed), and sends no control message at all.
func TestAlarmResendsNew(t *testing.T) {
	a, b, links := pair(t, nodeOpts{kind: syncmode.Alarm, refresh: 2 * time.Second, seed: 12})
	a.out[0].cut = true // record what A sends
	now := t0
	a.create(1, now)
	run(t, &now, now.Add(20*time.Second), 100*time.Millisecond, []*node{a, b}, links)
	n, types := messages(t, a.out[0].dropped)
	if n < 6 || types[wire.TypeCTNew] != n {
		t.Errorf("A sent %d messages of types %v in 20 s, want about 8, all NEW", n, types)
	}
}

// An object stored without a change to send (a start-up dump, -R, our own
// commit) is not sent at once in any mode; ALARM's refresh then brings it
// to the peer within RefreshTime, as conntrackd's timer, armed when the
// object enters the cache, does.
func TestStoredSendsOnlyALARMRefresh(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			const refresh = 2 * time.Second
			a, b, links := pair(t, nodeOpts{kind: kind, refresh: refresh, seed: 21})
			nodes := []*node{a, b}
			now := t0
			for i := range 50 {
				f := testFlow(i)
				r, _ := a.internal.Update(&f, now)
				a.m.Stored(r, now)
			}
			run(t, &now, now.Add(500*time.Millisecond), 10*time.Millisecond, nodes, links)
			if got := len(live(b.ext)); got != 0 {
				t.Fatalf("B has %d flows right after A stored them, want none", got)
			}
			run(t, &now, now.Add(refresh+time.Second), 10*time.Millisecond, nodes, links)
			want := 0
			if kind == syncmode.Alarm {
				want = 50
			}
			if got := len(live(b.ext)); got != want {
				t.Errorf("B has %d flows %v after A stored them, want %d", got, refresh+1500*time.Millisecond, want)
			}
		})
	}
}

// Without an external cache, received flows go to Inject (the engine writes
// them to the kernel), with their message type; FT-FW's session counters are
// there for `ctsync stats`.
func TestInjectWithoutExternalCache(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			in, _ := cache.NewFlows(cache.Settings{Limit: 100})
			got := map[wire.Type]int{}
			var marks []uint32
			s := syncmode.Settings{Kind: kind, MaxDatagram: 1472, RefreshTime: time.Minute,
				Inject: func(typ wire.Type, f *cache.Flow) {
					got[typ]++
					marks = append(marks, f.Mark)
				}}
			b, err := syncmode.New(s, convert(), in, nil, []syncmode.Sender{&direct{}}, t0)
			if err != nil {
				t.Fatal(err)
			}
			a := newNode(t, "a", nodeOpts{kind: kind, refresh: time.Minute, seed: 3})
			now := t0
			for _, event := range []func(){
				func() { a.create(1, now) },
				func() { a.update(1, 9, now) },
				func() { a.destroy(1, now) },
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
			want := map[wire.Type]int{wire.TypeCTNew: 1, wire.TypeCTUpdate: 1, wire.TypeCTDelete: 1}
			if fmt.Sprint(got) != fmt.Sprint(want) || marks[1] != 9 {
				t.Errorf("injected %v with marks %v, want %v with mark 9 second", got, marks, want)
			}
			st, ok := b.SessionStats(0)
			if ok != (kind == syncmode.FTFW) || (ok && st.Received != 3) {
				t.Errorf("session stats %+v, %v", st, ok)
			}
		})
	}
}

// A bulk send under FT-FW, its flows queued without their keys, loses
// nothing under loss and reordering, even with flows created, updated
// and destroyed while it is in flight and a second RESYNC on top of it:
// a destroyed flow's bulk message re-sent late must not bring it back
// on B, nor an old state overwrite a newer one; and A releases every
// destroyed flow.
func TestFTFWBulkUnderLoss(t *testing.T) {
	for seed := uint64(20); seed < 23; seed++ {
		a, b, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: seed})
		nodes := []*node{a, b}
		now := t0
		a.out[0].cut = true // B was not listening
		for i := range 3000 {
			a.create(i, now)
		}
		run(t, &now, now.Add(time.Second), 10*time.Millisecond, nodes, links)
		a.out[0].cut = false
		for _, l := range links {
			l.a.out[l.ai].loss, l.b.out[l.bi].loss = 0.2, 0.2
			l.a.out[l.ai].reorder, l.b.out[l.bi].reorder = true, true
		}
		b.m.RequestResync()
		for round := range 10 {
			for i := range 100 {
				switch k := round*100 + i; k % 3 {
				case 0:
					a.update(k*3%3000, uint32(k), now)
				case 1:
					a.destroy(k*7%3000, now)
				default:
					a.create(3000+k, now)
				}
			}
			if round == 4 {
				b.m.RequestResync()
			}
			run(t, &now, now.Add(100*time.Millisecond), 10*time.Millisecond, nodes, links)
		}
		for _, l := range links {
			l.a.out[l.ai].loss, l.b.out[l.bi].loss = 0, 0
		}
		run(t, &now, now.Add(20*time.Second), 10*time.Millisecond, nodes, links)
		sameTables(t, fmt.Sprintf("seed %d", seed), a.internal, b.ext)
		if n, l := a.internal.Len(), len(live(a.internal)); n != l {
			t.Errorf("seed %d: A's internal cache keeps %d destroyed objects", seed, n-l)
		}
		// The latest ACK stays until acknowledged itself
		// (TestFTFWIdleResendQueueHoldsOnlyTheLatestACK).
		if _, resend, _ := a.m.Queued(0); resend > 1 {
			t.Errorf("seed %d: %d messages unacknowledged once quiet", seed, resend)
		}
	}
}
