package ctnl

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// within fails the test if fn takes longer than d: a call that hangs (as
// ti-mo's Get and StatsGlobal do with mdlayher/netlink v1.10 and later,
// waiting after the ACK for an NLMSG_DONE) fails instead of blocking the
// suite.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func TestKernelGetAndStats(t *testing.T) {
	k := newKernelNS(t)
	k.createMany(t, 3, 0)
	want := manyFlow(1)

	var got Flow
	var err error
	within(t, 10*time.Second, "Get", func() { got, err = k.table.Get(want.Orig, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Orig != want.Orig || got.Reply != want.Reply || got.TCP.State != tcpEstablished {
		t.Errorf("Get: %s / %s state %d, want %s / %s established", got.Orig, got.Reply, got.TCP.State, want.Orig, want.Reply)
	}

	missing := tcpFlow("198.18.0.9", "198.18.1.2", 1, 80)
	within(t, 10*time.Second, "Get of a missing flow", func() { _, err = k.table.Get(missing.Orig, 0) })
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("Get of a missing flow: %v, want ENOENT", err)
	}

	var st Stats
	within(t, 10*time.Second, "StatsGlobal", func() { st, err = k.table.StatsGlobal() })
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || st.MaxEntries == 0 {
		t.Errorf("StatsGlobal: %+v, want 3 entries and a maximum", st)
	}
}

// A dump delivers every flow, one datagram at a time; stopping early
// leaves the socket ready for the next request.
func TestKernelDump(t *testing.T) {
	k := newKernelNS(t)
	const n = 3000
	k.createMany(t, n, 0)
	k.mustApply(t, OpCreate, func() *Flow {
		f := tcpFlow("2001:db8::1", "2001:db8::2", 1, 2)
		return f
	}())
	for _, tc := range []struct {
		family Family
		want   int
	}{{FamilyAll, n + 1}, {FamilyIPv4, n}, {FamilyIPv6, 1}} {
		count := 0
		err := k.table.Dump(tc.family, func(ev *Event) error {
			if ev.Type != EventUpdate || !ev.Flow.Orig.IsValid() {
				t.Fatalf("dump entry %s %s", ev.Type, ev.Flow.Orig)
			}
			count++
			return nil
		}, func(err error) { t.Errorf("skipped: %v", err) })
		if err != nil || count != tc.want {
			t.Errorf("dump of family %d: %d flows, %v; want %d", tc.family, count, err, tc.want)
		}
	}

	stop := errors.New("stop")
	count := 0
	err := k.table.Dump(FamilyAll, func(*Event) error { count++; return stop }, nil)
	if !errors.Is(err, stop) || count != 1 {
		t.Errorf("stopped dump: %d flows, %v; want 1 and the callback's error", count, err)
	}
	if st, err := k.table.StatsGlobal(); err != nil || st.Entries != n+1 {
		t.Errorf("after a stopped dump: %+v, %v", st, err)
	}
}

func TestKernelFlush(t *testing.T) {
	k := newKernelNS(t)
	k.createMany(t, 10, 0)
	marked := tcpFlow("198.18.0.2", "198.18.1.1", 1, 80)
	marked.Mark = 0x105
	k.mustApply(t, OpCreate, marked)
	v6 := tcpFlow("2001:db8::1", "2001:db8::2", 1, 2)
	k.mustApply(t, OpCreate, v6)

	count := func() int {
		st, err := k.table.StatsGlobal()
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Entries)
	}
	if err := k.table.FlushMark(0x100, 0xf00); err != nil {
		t.Fatal(err)
	}
	if _, err := k.table.Get(marked.Orig, 0); !errors.Is(err, unix.ENOENT) || count() != 11 {
		t.Errorf("after flushing mark 0x100/0xf00: %d flows, marked flow: %v", count(), err)
	}
	if err := k.table.Flush(); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Errorf("after flushing: %d flows, want none of either family", count())
	}
}
