package ctnl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// ftpMaster is an FTP control connection with the ftp helper attached:
// the kernel only takes expectations of a master that has a helper.
func ftpMaster() *Flow {
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21)
	f.Helper = "ftp"
	return f
}

// ftpExpect is the data connection the FTP helper expects after a PORT
// command: from the server's port 20... any port, to the client's 50000.
func ftpExpect() *Expect {
	m := ftpMaster().Orig
	return &Expect{
		Master: m,
		Tuple:  Tuple{Src: m.Dst, Dst: m.Src, Proto: protoTCP, DstPort: 50000},
		Mask: Tuple{Src: addr("255.255.255.255"), Dst: addr("255.255.255.255"),
			Proto: protoTCP, DstPort: 0xffff},
		Timeout: 200,
		Helper:  "ftp",
	}
}

// createMaster creates the master, retrying once on EAGAIN: a kernel with
// the FTP helper as a module loads it on the first request and asks for
// a retry.
func createMaster(t *testing.T, k *kernelNS, f *Flow) {
	t.Helper()
	err := k.apply(t, OpCreate, f)
	if errors.Is(err, unix.EAGAIN) {
		err = k.apply(t, OpCreate, f)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("the kernel has no %s helper: %v", f.Helper, err)
	}
	if err != nil {
		t.Fatalf("create master: %v", err)
	}
}

func (k *kernelNS) applyExpect(t *testing.T, op Op, e *Expect) error {
	t.Helper()
	errs := make([]error, 1)
	if err := k.w.Apply([]Request{{Op: op, Expect: e}}, errs); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return errs[0]
}

// dumpExpect is the table's expectations, decoded.
func (k *kernelNS) dumpExpect(t *testing.T) []Expect {
	t.Helper()
	var got []Expect
	err := k.table.DumpExpect(FamilyAll, func(ev *Event) error {
		if ev.Expect == nil {
			return fmt.Errorf("dump entry %s without an expectation", ev.Type)
		}
		got = append(got, *ev.Expect)
		return nil
	}, func(err error) { t.Errorf("dump entry skipped: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// An expectation written is the expectation read back: tuples, helper,
// flags, NAT and function survive, in both families and in a zone. Only
// the timeout differs: on create the kernel takes the helper policy's
// (300 s for FTP) and ignores the one sent.
func TestKernelExpectCreate(t *testing.T) {
	natFTP := ExpectNAT{Dir: 1, Tuple: Tuple{Src: addr("0.0.0.0"), Dst: addr("0.0.0.0"), Proto: protoTCP, SrcPort: 50001}}
	for _, tc := range []struct {
		name string
		edit func(m *Flow, e *Expect)
		// list is what conntrack -L expect (with args) shows.
		args, list []string
		// check runs after the comparison.
		check func(t *testing.T, k *kernelNS, e *Expect)
	}{{
		name: "plain",
		list: []string{"src=198.18.1.1 dst=198.18.0.1 sport=0 dport=50000", "master-src=198.18.0.1", "helper=ftp"},
	}, {
		name: "NAT and function",
		edit: func(m *Flow, e *Expect) { e.NAT, e.Function = natFTP, "nat-follow-master" },
	}, {
		name: "NAT address and port",
		edit: func(m *Flow, e *Expect) {
			e.NAT = ExpectNAT{Dir: 0, Tuple: Tuple{Src: addr("198.18.9.9"), Dst: addr("0.0.0.0"), Proto: protoTCP, SrcPort: 2121}}
		},
	}, {
		name: "permanent flag",
		edit: func(m *Flow, e *Expect) { e.Flags = 1 }, // NF_CT_EXPECT_PERMANENT
		list: []string{"PERMANENT"},
	}, {
		name: "IPv6 with NAT",
		edit: func(m *Flow, e *Expect) {
			m.Orig.Src, m.Orig.Dst = addr("2001:db8::1"), addr("2001:db8::2")
			m.Reply = m.Orig.Invert()
			e.Master = m.Orig
			e.Tuple.Src, e.Tuple.Dst = m.Orig.Dst, m.Orig.Src
			all := addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
			e.Mask.Src, e.Mask.Dst = all, all
			e.NAT, e.Function = natFTP, "nat-follow-master"
			e.NAT.Tuple.Src, e.NAT.Tuple.Dst = addr("::"), addr("::")
		},
		args: []string{"-f", "ipv6"},
		list: []string{"src=2001:db8::2 dst=2001:db8::1 sport=0 dport=50000"},
	}, {
		// The kernel does not report an expectation's zone (Linux
		// 6.18), but finds it by it.
		name: "zone",
		edit: func(m *Flow, e *Expect) { m.Zone, e.Zone = 9, 9 },
		check: func(t *testing.T, k *kernelNS, e *Expect) {
			z0 := *e
			z0.Zone = 0
			if err := k.applyExpect(t, OpDelete, &z0); !errors.Is(err, unix.ENOENT) {
				t.Errorf("delete in zone 0: %v, want ENOENT", err)
			}
			k.mustApplyExpect(t, OpDelete, e)
			if got := k.dumpExpect(t); len(got) != 0 {
				t.Errorf("after delete in zone 9: %+v, want none", got)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelNS(t)
			m, e := ftpMaster(), ftpExpect()
			if tc.edit != nil {
				tc.edit(m, e)
			}
			createMaster(t, k, m)
			if err := k.applyExpect(t, OpCreate, e); err != nil {
				t.Fatalf("create expectation: %v", err)
			}
			out := k.ns.Exec(t, "conntrack", append([]string{"-L", "expect"}, tc.args...)...)
			for _, w := range tc.list {
				if !strings.Contains(out, w) {
					t.Errorf("conntrack -L expect lacks %q:\n%s", w, out)
				}
			}
			got := k.dumpExpect(t)
			if len(got) != 1 {
				t.Fatalf("dump has %d expectations, want 1:\n%s", len(got), out)
			}
			if got[0].Timeout < 250 || got[0].Timeout > 300 {
				t.Errorf("timeout %d, want the FTP policy's 300 s", got[0].Timeout)
			}
			want := *e
			want.Timeout, want.ID, want.Zone = got[0].Timeout, got[0].ID, 0
			if diff := cmp.Diff(want, got[0], cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("read back (-written +read):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, k, e)
			}
		})
	}
}

// Writes of flows and expectations mix in one batch, in order (a master
// created first is there for its expectation), and each outcome is told
// apart: the kernel's errno for an existing or missing expectation, a
// missing master, a master without a helper and an unknown function.
func TestKernelExpectOps(t *testing.T) {
	k := newKernelNS(t)
	createMaster(t, k, ftpMaster()) // loads the helper if it is a module
	noHelper := tcpFlow("198.18.0.2", "198.18.1.1", 40000, 21)
	e := ftpExpect()
	short := *e
	short.Timeout = 50
	missing := ftpExpect()
	missing.Tuple.DstPort = 50001
	orphan := ftpExpect()
	orphan.Master.SrcPort, orphan.Tuple.DstPort = 1, 50002
	helperless := ftpExpect()
	helperless.Master, helperless.Tuple.DstPort = noHelper.Orig, 50003
	badFn := ftpExpect()
	badFn.Tuple.DstPort, badFn.Function = 50004, "no-such-function"
	// The FTP helper keeps one expectation per master (max_expected),
	// evicting the oldest, so another is of another master.
	master2 := ftpMaster()
	master2.Orig.Src, master2.Reply.Dst = addr("198.18.0.3"), addr("198.18.0.3")
	other := ftpExpect()
	other.Master, other.Tuple.Dst = master2.Orig, master2.Orig.Src
	reqs := []Request{
		{Op: OpCreate, Flow: ftpMaster()},
		{Op: OpCreate, Flow: noHelper},
		{Op: OpCreate, Flow: master2},
		{Op: OpCreate, Expect: e},
		{Op: OpCreate, Expect: e},              // EEXIST
		{Op: OpCreateOrUpdate, Expect: &short}, // sets the timeout
		{Op: OpUpdate, Expect: missing},        // ENOENT
		{Op: OpCreate, Expect: orphan},         // no master: ENOENT
		{Op: OpCreate, Expect: helperless},     // EOPNOTSUPP
		{Op: OpCreate, Expect: badFn},          // EINVAL
		{Op: OpCreate, Expect: &Expect{}},      // does not encode
		{Op: OpCreateOrUpdate, Expect: other},  // creates
		{Op: OpDelete, Expect: missing},        // ENOENT
		{Op: OpDelete, Expect: other},
	}
	want := []error{nil, nil, nil, nil, unix.EEXIST, nil, unix.ENOENT, unix.ENOENT, unix.EOPNOTSUPP, unix.EINVAL, errNoTuple, nil, unix.ENOENT, nil}
	for _, batch := range []int{1, 4, 64} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			errs := k.applyBatch(t, batch, reqs, want)
			// A message names the expectation, not a flow.
			if msg := errs[4].Error(); !strings.HasPrefix(msg, "create expectation proto 6 src=198.18.1.1 dst=198.18.0.1 sport=0 dport=50000: ") {
				t.Errorf("error %q does not name the expectation", msg)
			}
			got := k.dumpExpect(t)
			if len(got) != 1 || got[0].Tuple != e.Tuple || got[0].Timeout > 50 {
				t.Errorf("expectations after the batch: %+v, want only the first, with timeout 50", got)
			}
		})
	}
}

// The gap this package closes: the kernel wants the helper and function
// names NUL-terminated, and ti-mo's encoder sends them without (EINVAL).
func TestKernelExpectNames(t *testing.T) {
	k := newKernelNS(t)
	createMaster(t, k, ftpMaster())
	e := ftpExpect()
	tuple := func(t Tuple) conntrack.Tuple {
		return conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: t.Src, DestinationAddress: t.Dst},
			Proto: conntrack.ProtoTuple{Protocol: t.Proto, SourcePort: t.SrcPort, DestinationPort: t.DstPort},
		}
	}
	timo := conntrack.Expect{
		Timeout: 100, TupleMaster: tuple(e.Master), Tuple: tuple(e.Tuple), Mask: tuple(e.Mask),
		HelpName: "ftp",
	}
	create := func(x conntrack.Expect) error {
		return k.ns.Do(func() error {
			c, err := conntrack.Dial(nil)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.CreateExpect(x)
		})
	}
	if err := create(timo); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ti-mo's expectation with helper %q: %v, want EINVAL", timo.HelpName, err)
	}
	timo.HelpName, timo.Function = "ftp\x00", "nat-follow-master"
	if err := create(timo); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ti-mo's expectation with function %q: %v, want EINVAL", timo.Function, err)
	}
	e.Function = "nat-follow-master"
	if err := k.applyExpect(t, OpCreate, e); err != nil {
		t.Errorf("create with both names: %v", err)
	}
}

// Expectation events carry the NAT and function too.
func TestKernelExpectEvents(t *testing.T) {
	k := newKernelNS(t)
	_, r := k.listen(t, EventsConfig{Expectations: true}, true)
	createMaster(t, k, ftpMaster())
	e := ftpExpect()
	e.NAT = ExpectNAT{Dir: 1, Tuple: Tuple{Src: addr("0.0.0.0"), Dst: addr("0.0.0.0"), Proto: protoTCP, SrcPort: 50001}}
	e.Function = "nat-follow-master"
	if err := k.applyExpect(t, OpCreate, e); err != nil {
		t.Fatal(err)
	}
	k.mustApplyExpect(t, OpDelete, e)
	r.waitFor(t, "the expectation's new and destroy events", func() bool { return len(r.events) >= 2 })
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, typ := range []EventType{EventExpNew, EventExpDestroy} {
		ev := r.events[i]
		if ev.Type != typ || ev.Expect == nil {
			t.Fatalf("event %d: %s %+v, want %s", i, ev.Type, ev.Expect, typ)
		}
		if ev.Expect.NAT != e.NAT || ev.Expect.Function != e.Function || ev.PortID != k.w.PortID() {
			t.Errorf("%s: NAT %+v function %q port %d, want %+v %q %d", typ, ev.Expect.NAT, ev.Expect.Function, ev.PortID, e.NAT, e.Function, k.w.PortID())
		}
	}
}

func (k *kernelNS) mustApplyExpect(t *testing.T, op Op, e *Expect) {
	t.Helper()
	if err := k.applyExpect(t, op, e); err != nil {
		t.Fatalf("%s expectation: %v", op, err)
	}
}
