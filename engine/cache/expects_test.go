package cache

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ftpExpect(master string, port uint16) Expect {
	return Expect{
		Tuple: Tuple{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.9"),
			Proto: 6, DstPort: port},
		Has:    ExpHasMaster | ExpHasMask | ExpHasTimeout | ExpHasHelper,
		Master: Tuple{Src: netip.MustParseAddr(master), Dst: netip.MustParseAddr("203.0.113.9"), Proto: 6, SrcPort: 40000, DstPort: 21},
		Mask: Tuple{Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.255"),
			Proto: 0xff, DstPort: 0xffff},
		Timeout: 300,
		Helper:  MakeName("ftp"),
	}
}

var nameEq = cmp.AllowUnexported(Name{})

func addrEq() cmp.Option { return cmp.Comparer(func(a, b netip.Addr) bool { return a == b }) }

func TestExpectRoundTrip(t *testing.T) {
	full := ftpExpect("198.51.100.1", 50000)
	full.Has = expAllAttrs
	full.Zone = 4
	full.NAT = Tuple{Dst: netip.MustParseAddr("203.0.113.1"), Proto: 6, DstPort: 2121}
	full.Flags, full.Class, full.NATDir = 1, 2, 1
	full.Fn = MakeName("nat-follow-master")
	tests := []struct {
		name     string
		in, want Expect
	}{
		{"everything", full, full},
		{"helper and timeout only", func() Expect { e := full; e.Has = ExpHasHelper | ExpHasTimeout; return e }(),
			Expect{Tuple: full.Tuple, Zone: 4, Has: ExpHasHelper | ExpHasTimeout, Helper: full.Helper, Timeout: 300}},
	}
	c, err := NewExpects(Settings{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.Update(&full, epoch)
			r, o := c.Update(&tc.in, epoch)
			if o != Updated {
				t.Fatalf("outcome %v", o)
			}
			var e ExpEntry
			if !c.Get(r, &e) {
				t.Fatal("Get fails")
			}
			if diff := cmp.Diff(tc.want, e.Expect, addrEq(), nameEq); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The expected tuple and zone are the key: a second expectation with
// that tuple replaces the first whatever its master, as in the kernel.
func TestExpectsLifecycle(t *testing.T) {
	c, err := NewExpects(Settings{Limit: 2, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a, b, other := ftpExpect("198.51.100.1", 50000), ftpExpect("198.51.100.2", 50000), ftpExpect("198.51.100.1", 50001)
	third := ftpExpect("198.51.100.1", 50002)
	steps := []struct {
		do   func() any
		want any
	}{
		{func() any { _, o := c.Update(&a, epoch); return o }, Created},
		{func() any { _, o := c.Update(&b, epoch); return o }, Updated},
		{func() any { _, o := c.Replace(&other, epoch.Add(30*time.Second)); return o }, Created},
		{func() any { _, o := c.Update(&third, epoch); return o }, Refused},
		{func() any { _, ok := c.Kill(a.Key()); return ok }, true},
		{func() any { r, _ := c.Find(a.Key()); return c.State(r) }, Dead},
		{func() any { r, _ := c.Find(a.Key()); return c.KillRef(r) }, false},
		{func() any { r, _ := c.Find(a.Key()); return c.Remove(r) }, true},
		{func() any { return c.Delete(a.Key()) }, false},
		{func() any { t, ok := c.NextExpiry(); return ok && t.Equal(epoch.Add(90*time.Second)) }, true},
		{func() any { return c.Expire(epoch.Add(90 * time.Second)) }, 1},
		{func() any { return c.Len() }, 0},
		{func() any { _, o := c.Update(&third, epoch); return o }, Created},
		{func() any { c.Flush(); return c.Len() }, 0},
	}
	for i, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("step %d: got %v, want %v", i, got, s.want)
		}
	}
	want := Stats{Created: 3, Updated: 1, CreateFailed: 1, CreateNoSpace: 1,
		Destroyed: 3, DestroyFailed: 1, DestroyNotFound: 1, Flushes: 1}
	if diff := cmp.Diff(want, c.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestExpectsAllAndSorted(t *testing.T) {
	c, _ := NewExpects(Settings{Limit: 10})
	for _, p := range []uint16{50003, 50001, 50002} {
		e := ftpExpect("198.51.100.1", p)
		c.Update(&e, epoch)
	}
	var ports []uint16
	var e ExpEntry
	for _, r := range c.Sorted() {
		c.Get(r, &e)
		ports = append(ports, e.Expect.Tuple.DstPort)
	}
	if diff := cmp.Diff([]uint16{50001, 50002, 50003}, ports); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
	ports = ports[:0]
	for _, e := range c.All() {
		ports = append(ports, e.Expect.Tuple.DstPort)
	}
	if diff := cmp.Diff([]uint16{50003, 50001, 50002}, ports); diff != "" {
		t.Errorf("all, in insertion order (-want +got):\n%s", diff)
	}
	if _, err := NewExpects(Settings{}); err == nil {
		t.Error("limit 0 accepted")
	}
}
