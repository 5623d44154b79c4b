package cache

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func tcpFlow(src string, sport uint16, zone uint16) Flow {
	return Flow{
		Orig: Tuple{
			Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.9"),
			Proto: 6, SrcPort: sport, DstPort: 80,
		},
		Zone:     zone,
		Has:      HasStatus | HasTimeout | HasTCPState,
		Status:   0x8,
		Timeout:  120,
		TCPState: 3,
	}
}

// fixture flows the table tests name by index: 2 has 0's tuple in
// another zone.
var fixture = []Flow{
	tcpFlow("198.51.100.1", 1000, 0),
	tcpFlow("198.51.100.2", 2000, 0),
	tcpFlow("198.51.100.1", 1000, 7),
	tcpFlow("198.51.100.3", 3000, 0),
}

type step struct {
	op   string // update, replace, kill, delete, remove, flush, expire
	flow int
	at   time.Duration // since epoch
	want string        // outcome, or true/false, or the expire count
}

func (s step) run(t *testing.T, c *Flows, refs map[int]Ref) string {
	t.Helper()
	f := fixture[s.flow]
	now := epoch.Add(s.at)
	switch s.op {
	case "update", "replace":
		do := c.Update
		if s.op == "replace" {
			do = c.Replace
		}
		r, o := do(&f, now)
		if o != Refused {
			refs[s.flow] = r
		}
		return o.String()
	case "kill":
		_, ok := c.Kill(f.Key())
		return boolString(ok)
	case "killref":
		return boolString(c.KillRef(refs[s.flow]))
	case "delete":
		return boolString(c.Delete(f.Key()))
	case "remove":
		return boolString(c.Remove(refs[s.flow]))
	case "flush":
		c.Flush()
		return ""
	case "expire":
		return strings.Repeat("x", c.Expire(now))
	}
	t.Fatalf("unknown op %q", s.op)
	return ""
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestFlowsStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		settings Settings
		steps    []step
		states   map[int]State // flows expected in the cache afterwards
		stats    Stats
	}{
		{
			name:   "update creates a new object",
			steps:  []step{{op: "update", want: "created"}},
			states: map[int]State{0: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 1},
		},
		{
			name:   "second update makes it alive",
			steps:  []step{{op: "update", want: "created"}, {op: "update", want: "updated"}},
			states: map[int]State{0: Alive},
			stats:  Stats{Active: 1, Objects: 1, Created: 1, Updated: 1},
		},
		{
			name:   "replace discards the old object and counts it destroyed",
			steps:  []step{{op: "update", want: "created"}, {op: "update", want: "updated"}, {op: "replace", want: "created"}},
			states: map[int]State{0: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 2, Updated: 1, Destroyed: 1},
		},
		{
			name:   "kill marks dead, keeps the object, counts it destroyed",
			steps:  []step{{op: "update", want: "created"}, {op: "kill", want: "true"}},
			states: map[int]State{0: Dead},
			stats:  Stats{Active: 0, Objects: 1, Created: 1, Destroyed: 1},
		},
		{
			name:   "kill of a dead object does nothing",
			steps:  []step{{op: "update", want: "created"}, {op: "kill", want: "true"}, {op: "kill", want: "false"}, {op: "killref", want: "false"}},
			states: map[int]State{0: Dead},
			stats:  Stats{Objects: 1, Created: 1, Destroyed: 1},
		},
		{
			name:   "killref marks dead like kill",
			steps:  []step{{op: "update", want: "created"}, {op: "killref", want: "true"}},
			states: map[int]State{0: Dead},
			stats:  Stats{Objects: 1, Created: 1, Destroyed: 1},
		},
		{
			name:   "kill of an unknown flow is a failed destroy",
			steps:  []step{{op: "kill", want: "false"}},
			states: map[int]State{},
			stats:  Stats{DestroyFailed: 1, DestroyNotFound: 1},
		},
		{
			name: "update of a dead object creates a fresh one without counting the dead twice",
			steps: []step{{op: "update", want: "created"}, {op: "kill", want: "true"},
				{op: "update", want: "created"}},
			states: map[int]State{0: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 2, Destroyed: 1},
		},
		{
			name:   "remove of a dead object frees it",
			steps:  []step{{op: "update", want: "created"}, {op: "kill", want: "true"}, {op: "remove", want: "true"}, {op: "remove", want: "false"}},
			states: map[int]State{},
			stats:  Stats{Created: 1, Destroyed: 1},
		},
		{
			name:   "remove of a live object counts it destroyed",
			steps:  []step{{op: "update", want: "created"}, {op: "remove", want: "true"}},
			states: map[int]State{},
			stats:  Stats{Created: 1, Destroyed: 1},
		},
		{
			name:   "delete removes, and of an unknown flow fails",
			steps:  []step{{op: "update", want: "created"}, {op: "delete", want: "true"}, {op: "delete", want: "false"}},
			states: map[int]State{},
			stats:  Stats{Created: 1, Destroyed: 1, DestroyFailed: 1, DestroyNotFound: 1},
		},
		{
			name:   "the zone is part of the key",
			steps:  []step{{op: "update", flow: 0, want: "created"}, {op: "update", flow: 2, want: "created"}, {op: "kill", flow: 2, want: "true"}},
			states: map[int]State{0: New, 2: Dead},
			stats:  Stats{Active: 1, Objects: 2, Created: 2, Destroyed: 1},
		},
		{
			name:     "a full cache refuses new objects and counts them",
			settings: Settings{Limit: 2},
			steps: []step{{op: "update", flow: 0, want: "created"}, {op: "update", flow: 1, want: "created"},
				{op: "update", flow: 3, want: "refused"}, {op: "replace", flow: 3, want: "refused"},
				{op: "update", flow: 1, want: "updated"}},
			states: map[int]State{0: New, 1: Alive},
			stats:  Stats{Active: 2, Objects: 2, Created: 2, Updated: 1, CreateFailed: 2, CreateNoSpace: 2},
		},
		{
			name:     "dead objects count against the limit",
			settings: Settings{Limit: 1},
			steps: []step{{op: "update", flow: 0, want: "created"}, {op: "kill", flow: 0, want: "true"},
				{op: "update", flow: 1, want: "refused"}, {op: "remove", flow: 0, want: "true"},
				{op: "update", flow: 1, want: "created"}},
			states: map[int]State{1: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 2, Destroyed: 1, CreateFailed: 1, CreateNoSpace: 1},
		},
		{
			name:     "replace in a full cache frees the old object first",
			settings: Settings{Limit: 1},
			steps:    []step{{op: "update", want: "created"}, {op: "replace", want: "created"}},
			states:   map[int]State{0: New},
			stats:    Stats{Active: 1, Objects: 1, Created: 2, Destroyed: 1},
		},
		{
			name: "flush empties and counts the live objects destroyed",
			steps: []step{{op: "update", flow: 0, want: "created"}, {op: "update", flow: 1, want: "created"},
				{op: "kill", flow: 1, want: "true"}, {op: "flush"}, {op: "remove", flow: 0, want: "false"},
				{op: "update", flow: 3, want: "created"}},
			states: map[int]State{3: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 3, Destroyed: 2, Flushes: 1},
		},
		{
			name:     "objects not refreshed for the lifetime expire",
			settings: Settings{Limit: 10, Lifetime: 180 * time.Second},
			steps: []step{{op: "update", flow: 0, want: "created"}, {op: "update", flow: 1, at: 10 * time.Second, want: "created"},
				{op: "update", flow: 0, at: 100 * time.Second, want: "updated"},
				{op: "expire", at: 189 * time.Second, want: ""},
				{op: "expire", at: 190 * time.Second, want: "x"},
				{op: "expire", at: 279 * time.Second, want: ""},
				{op: "expire", at: 300 * time.Second, want: "x"}},
			states: map[int]State{},
			stats:  Stats{Created: 2, Updated: 1, Destroyed: 2},
		},
		{
			name:   "without a lifetime nothing expires",
			steps:  []step{{op: "update", want: "created"}, {op: "expire", at: 1000 * time.Hour, want: ""}},
			states: map[int]State{0: New},
			stats:  Stats{Active: 1, Objects: 1, Created: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.settings
			if s.Limit == 0 {
				s.Limit = 100
			}
			c, err := NewFlows(s)
			if err != nil {
				t.Fatal(err)
			}
			refs := map[int]Ref{}
			for i, st := range tc.steps {
				if got := st.run(t, c, refs); got != st.want {
					t.Fatalf("step %d %s flow %d: got %q, want %q", i, st.op, st.flow, got, st.want)
				}
			}
			got := map[int]State{}
			for i := range fixture {
				r, ok := c.Find(fixture[i].Key())
				if !ok {
					continue
				}
				var e Entry
				if !c.Get(r, &e) {
					t.Fatalf("flow %d: found but Get fails", i)
				}
				if e.State != c.State(r) {
					t.Errorf("flow %d: Get says %v, State says %v", i, e.State, c.State(r))
				}
				got[i] = e.State
			}
			if diff := cmp.Diff(tc.states, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.stats, c.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if c.Len() != len(tc.states) {
				t.Errorf("Len %d, want %d", c.Len(), len(tc.states))
			}
		})
	}
}

func TestNewFlowsRefusesBadSettings(t *testing.T) {
	for _, s := range []Settings{{Limit: 0}, {Limit: -1}, {Limit: 1, Buckets: -1}, {Limit: 1, Lifetime: -time.Second}} {
		if _, err := NewFlows(s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

// Every attribute in Has comes back as stored, those not in Has as zero,
// and addresses keep their family.
func TestFlowRoundTrip(t *testing.T) {
	full := Flow{
		Orig: Tuple{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("::ffff:198.51.100.7"),
			Proto: 58, ICMPID: 77, ICMPType: 128, ICMPCode: 1},
		Zone: 3, Has: allAttrs,
		Status: 1, Timeout: 2, Mark: 3,
		TCPState: 4, TCPWScaleOrig: 5, TCPWScaleReply: 6,
		SCTPState: 7, SCTPVTagOrig: 8, SCTPVTagReply: 9,
		DCCPState: 10, DCCPRole: 11,
		Master: Tuple{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("198.51.100.2"),
			Proto: 6, SrcPort: 1, DstPort: 21},
		SNAT: netip.MustParseAddr("203.0.113.1"), DNAT: netip.MustParseAddr("2001:db8::99"),
		SNATPort: 12, DNATPort: 13,
		SeqAdj:   [6]uint32{1, 2, 3, 4, 5, 6},
		Synproxy: [3]uint32{7, 8, 9},
		Helper:   MakeName("ftp"),
		Labels:   [16]byte{0: 1, 15: 0x80},
	}
	tests := []struct {
		name string
		in   Flow
		want Flow
	}{
		{name: "everything", in: full, want: full},
		{name: "nothing optional", in: func() Flow { f := full; f.Has = 0; return f }(),
			want: Flow{Orig: full.Orig, Zone: 3}},
		{name: "only NAT", in: func() Flow { f := full; f.Has = natAttrs; return f }(),
			want: Flow{Orig: full.Orig, Zone: 3, Has: natAttrs, SNAT: full.SNAT, DNAT: full.DNAT, SNATPort: 12, DNATPort: 13}},
		{name: "only the master", in: func() Flow { f := full; f.Has = HasMaster; return f }(),
			want: Flow{Orig: full.Orig, Zone: 3, Has: HasMaster, Master: full.Master}},
		{name: "unknown bits dropped", in: func() Flow { f := full; f.Has = HasMark | 1<<31; return f }(),
			want: Flow{Orig: full.Orig, Zone: 3, Has: HasMark, Mark: 3}},
		{name: "no addresses", in: Flow{Orig: Tuple{Proto: 17, SrcPort: 5}},
			want: Flow{Orig: Tuple{Proto: 17, SrcPort: 5}}},
	}
	c, err := NewFlows(Settings{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Store the full flow first, so that a new object in its
			// place must not inherit what it lacks.
			if _, o := c.Update(&full, epoch); o == Refused {
				t.Fatal(o)
			}
			r, o := c.Replace(&tc.in, epoch.Add(time.Second))
			if o == Refused {
				t.Fatal(o)
			}
			var e Entry
			if !c.Get(r, &e) {
				t.Fatal("Get fails")
			}
			if diff := cmp.Diff(tc.want, e.Flow, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.AllowUnexported(Name{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			c.Flush()
		})
	}
}

// An update changes only the attributes it has, as conntrackd's
// cache_update does: the kernel reports labels and sequence adjustments
// only in the event that changed them, the TCP state only when it changed,
// and the next message to the peer must still carry them.
func TestUpdateKeepsWhatItLacks(t *testing.T) {
	orig := Tuple{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.9"),
		Proto: 6, SrcPort: 1000, DstPort: 21}
	first := Flow{Orig: orig, Has: HasStatus | HasTimeout | HasTCPState | HasTCPWScale | HasSeqAdj | HasLabels | HasHelper | HasMark,
		Status: 0x18e, Timeout: 300, TCPState: 3, TCPWScaleOrig: 7, TCPWScaleReply: 8,
		SeqAdj: [6]uint32{1, 0, 3, 0, 0, 0}, Labels: [16]byte{0: 1}, Helper: MakeName("ftp"), Mark: 5}
	tests := []struct {
		name   string
		update Flow
		want   Flow
	}{
		{
			name:   "status and timeout only",
			update: Flow{Orig: orig, Has: HasStatus | HasTimeout | HasMark, Status: 0x19e, Timeout: 431999, Mark: 0},
			want: func() Flow {
				f := first
				f.Status, f.Timeout, f.Mark = 0x19e, 431999, 0
				return f
			}(),
		},
		{
			name:   "new TCP state keeps the window scales",
			update: Flow{Orig: orig, Has: HasStatus | HasTCPState, Status: 0x19e, TCPState: 4},
			want: func() Flow {
				f := first
				f.Status, f.TCPState = 0x19e, 4
				return f
			}(),
		},
		{
			name:   "everything again",
			update: first,
			want:   first,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewFlows(Settings{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			c.Update(&first, epoch)
			r, o := c.Update(&tc.update, epoch.Add(time.Second))
			if o != Updated {
				t.Fatalf("outcome %v, want updated", o)
			}
			var e Entry
			if !c.Get(r, &e) {
				t.Fatal("Get fails")
			}
			if diff := cmp.Diff(tc.want, e.Flow, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.AllowUnexported(Name{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntryTimes(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 10})
	f := fixture[0]
	c.Update(&f, epoch)
	r, _ := c.Update(&f, epoch.Add(5*time.Second))
	var e Entry
	c.Get(r, &e)
	if !e.Created.Equal(epoch) || !e.Updated.Equal(epoch.Add(5*time.Second)) {
		t.Errorf("created %v updated %v", e.Created, e.Updated)
	}
	// A replaced object starts a new life.
	r, _ = c.Replace(&f, epoch.Add(9*time.Second))
	c.Get(r, &e)
	if !e.Created.Equal(epoch.Add(9 * time.Second)) {
		t.Errorf("replaced: created %v", e.Created)
	}
}

// A Ref goes stale when its object goes, even when another object takes
// its slot: a queue holding it must not send the newcomer by mistake.
func TestRefGoesStale(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 10})
	f0, f1 := fixture[0], fixture[1]
	r0, _ := c.Update(&f0, epoch)
	c.Delete(f0.Key())
	r1, _ := c.Update(&f1, epoch)
	if r0.slot != r1.slot {
		t.Fatalf("slot not reused: %v %v", r0, r1)
	}
	var e Entry
	if c.Get(r0, &e) || c.State(r0) != 0 || c.Remove(r0) || c.KillRef(r0) {
		t.Error("stale Ref still works")
	}
	if !c.Get(r1, &e) || e.Flow.Orig != f1.Orig {
		t.Error("fresh Ref does not work")
	}
	if (Ref{}).IsZero() != true || r1.IsZero() {
		t.Error("IsZero")
	}
}

func TestNextExpiry(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 10, Lifetime: time.Minute})
	if _, ok := c.NextExpiry(); ok {
		t.Error("empty cache has an expiry")
	}
	f0, f1 := fixture[0], fixture[1]
	c.Update(&f0, epoch)
	c.Update(&f1, epoch.Add(time.Second))
	c.Update(&f0, epoch.Add(2*time.Second))
	if at, ok := c.NextExpiry(); !ok || !at.Equal(epoch.Add(61*time.Second)) {
		t.Errorf("next expiry %v %v, want f1's at +61s", at, ok)
	}
}

func manyFlows(n int) []Flow {
	fs := make([]Flow, n)
	for i := range fs {
		fs[i] = benchFlow(i)
	}
	return fs
}

// Batches visit every object exactly once, also when objects are
// removed between batches, as a commit or bulk send does.
func TestBatchVisitsEachObjectOnce(t *testing.T) {
	for _, size := range []int{1, 7, 1000, 5000} {
		c, _ := NewFlows(Settings{Limit: 5000})
		fs := manyFlows(3000)
		for i := range fs {
			c.Update(&fs[i], epoch)
		}
		seen := map[uint32]int{}
		var cur Cursor
		removed := 0
		for done := false; !done; {
			cur, done = c.Batch(cur, size, func(r Ref, e *Entry) {
				seen[e.Flow.Mark]++
			})
			// Remove a not yet visited object: it must not be seen.
			if !done && removed < 10 {
				last := fs[len(fs)-1-removed]
				if c.Delete(last.Key()) {
					removed++
				}
			}
		}
		if len(seen) != 3000-removed {
			t.Errorf("batch %d: saw %d objects, want %d", size, len(seen), 3000-removed)
		}
		for m, n := range seen {
			if n != 1 {
				t.Errorf("batch %d: object %d seen %d times", size, m, n)
			}
		}
	}
}

// Sorted orders by key whatever the insertion order, so dumps compare.
func TestSortedIsByKey(t *testing.T) {
	fs := manyFlows(200)
	a, _ := NewFlows(Settings{Limit: 500})
	b, _ := NewFlows(Settings{Limit: 500})
	for i := range fs {
		a.Update(&fs[i], epoch)
		b.Update(&fs[len(fs)-1-i], epoch)
	}
	keys := func(c *Flows) []Key {
		var ks []Key
		var e Entry
		for _, r := range c.Sorted() {
			c.Get(r, &e)
			ks = append(ks, e.Flow.Key())
		}
		return ks
	}
	ka, kb := keys(a), keys(b)
	if len(ka) != 200 || !slices.Equal(ka, kb) {
		t.Fatalf("orders differ")
	}
	for i := 1; i < len(ka); i++ {
		x, y := packKey(&ka[i-1]), packKey(&ka[i])
		if x.compare(&y) >= 0 {
			t.Fatalf("not ascending at %d: %v, %v", i, ka[i-1], ka[i])
		}
	}
}

// All may kill and remove objects as it goes (a purge does).
func TestAllAllowsRemoval(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 500})
	fs := manyFlows(300)
	for i := range fs {
		c.Update(&fs[i], epoch)
	}
	n := 0
	for r, e := range c.All() {
		n++
		if e.Flow.Mark%2 == 0 {
			c.Remove(r)
		} else {
			c.KillRef(r)
		}
	}
	if n != 300 || c.Len() != 150 || c.Stats().Active != 0 {
		t.Errorf("visited %d, left %d, active %d", n, c.Len(), c.Stats().Active)
	}
	n = 0
	for range c.All() {
		n++
		break
	}
	if n != 1 {
		t.Error("break does not stop All")
	}
}

// The update hot path allocates nothing, also when NAT attributes come
// and go on an object that already had them once.
func TestUpdateDoesNotAllocate(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 100})
	f := fixture[0]
	f.Has |= HasSNAT | HasHelper
	f.SNAT = netip.MustParseAddr("203.0.113.5")
	f.Helper = MakeName("ftp")
	c.Update(&f, epoch)
	g := f
	g.Has &^= HasSNAT | HasHelper
	allocs := testing.AllocsPerRun(100, func() {
		c.Update(&f, epoch)
		c.Update(&g, epoch)
		c.Find(f.Key())
	})
	if allocs != 0 {
		t.Errorf("%v allocations per update", allocs)
	}
}

// A huge size hint or limit costs nothing until objects arrive.
func TestHugeSettingsAllocateLittle(t *testing.T) {
	c, err := NewFlows(Settings{Buckets: 1<<31 - 1, Limit: 1<<31 - 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.t.index); n > maxInitialIndex {
		t.Errorf("index of %d buckets allocated up front", n)
	}
	if _, err := NewFlows(Settings{Limit: 1 << 31}); err == nil {
		t.Error("limit 2^31 accepted")
	}
}

func TestCommitTimeout(t *testing.T) {
	upd := epoch.Add(500 * time.Millisecond)
	tests := []struct {
		name    string
		timeout uint32
		now     time.Time
		fixed   time.Duration
		want    uint32
	}{
		{"fixed wins", 120, upd.Add(time.Hour), 30 * time.Second, 30},
		{"aged by whole seconds", 120, upd.Add(10*time.Second + 600*time.Millisecond), 0, 109},
		{"same second", 120, upd, 0, 120},
		{"expired becomes 60", 120, upd.Add(200 * time.Second), 0, 60},
		{"exactly 0 becomes 60", 120, upd.Add(120 * time.Second), 0, 60},
		{"no timeout received", 0, upd.Add(time.Second), 0, 60},
		{"clock went back: age 60", 100, upd.Add(-time.Hour), 0, 40},
	}
	for _, tc := range tests {
		e := Entry{Flow: Flow{Timeout: tc.timeout}, Updated: upd}
		if got := e.CommitTimeout(tc.now, tc.fixed); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Generations wrap without ever making a live object's Ref zero.
func TestRefGenerationWraps(t *testing.T) {
	c, _ := NewFlows(Settings{Limit: 10})
	f := fixture[0]
	r, _ := c.Update(&f, epoch)
	c.t.at(r.slot).gen = 1<<32 - 3
	for range 4 {
		c.Delete(f.Key())
		r, _ = c.Update(&f, epoch)
		var e Entry
		if r.IsZero() || !c.Get(r, &e) {
			t.Fatalf("gen %d: Ref %v does not work", c.t.at(r.slot).gen, r)
		}
	}
}

func TestSetLimit(t *testing.T) {
	c, err := NewFlows(Settings{Buckets: 4, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	add := func(i int) Outcome {
		f := Flow{Orig: Tuple{Src: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), Dst: netip.AddrFrom4([4]byte{198, 19, 0, 1}), Proto: 6, SrcPort: 1, DstPort: 2}}
		_, o := c.Update(&f, now)
		return o
	}
	add(1)
	add(2)
	if o := add(3); o != Refused {
		t.Fatalf("third flow at limit 2: %v", o)
	}
	if err := c.SetLimit(3); err != nil {
		t.Fatal(err)
	}
	if o := add(3); o != Created {
		t.Fatalf("third flow at limit 3: %v", o)
	}
	// Lowering the limit keeps what is held.
	if err := c.SetLimit(1); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3 || add(4) != Refused {
		t.Fatalf("after lowering the limit: %d objects held", c.Len())
	}
	if err := c.SetLimit(0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func TestPackedKeyRoundTrip(t *testing.T) {
	for _, k := range []Key{
		{Orig: Tuple{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, SrcPort: 1, DstPort: 2}, Zone: 7},
		{Orig: Tuple{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: 17, SrcPort: 53, DstPort: 5353}},
		{Orig: Tuple{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 1, ICMPID: 9, ICMPType: 8}},
		{Orig: Tuple{Src: netip.MustParseAddr("::ffff:198.18.0.1"), Dst: netip.MustParseAddr("::ffff:198.19.0.1"), Proto: 6}},
	} {
		if got := k.Pack().Key(); got != k {
			t.Errorf("Pack then Key: %+v, want %+v", got, k)
		}
		o := k
		o.Zone++
		if k.Pack() == o.Pack() {
			t.Errorf("%+v: keys in two zones pack alike", k)
		}
	}
}
