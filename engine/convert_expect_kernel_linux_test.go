package engine

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/wire"
)

// Every expectation conntrackd sent in the captures, converted and
// committed with its master (created first, in the same batch, as
// conntrackd's commit does: src/cache-ct.c, then src/cache-exp.c) to the
// table of a fresh namespace, is in the table as the primary had it: the
// NAT'd FTP ones with their NAT and nat-follow-master, so that the backup
// translates the data connection.
func TestKernelExpectCommitted(t *testing.T) {
	netnstest.RequirePrivileged(t)
	type capture struct {
		file string
		key  ctnl.Tuple
	}
	masters := map[capture]wire.Flow{}
	expects := map[capture]wire.Expect{}
	var order []capture
	for _, c := range capturedMessages(t) {
		file, _, _ := strings.Cut(c.where, ":")
		switch c.msg.Type {
		case wire.TypeCTNew, wire.TypeCTUpdate:
			var k ctnl.Flow
			if err := KernelFlow(&k, &c.msg.Flow, ConvertOptions{}); err != nil {
				t.Fatalf("%s: %v", c.where, err)
			}
			masters[capture{file, k.Orig}] = c.msg.Flow
		case wire.TypeExpNew, wire.TypeExpUpdate:
			var e ctnl.Expect
			if err := KernelExpect(&e, &c.msg.Exp, ConvertOptions{}); err != nil {
				t.Fatalf("%s: %v", c.where, err)
			}
			key := capture{file, e.Tuple}
			if _, ok := expects[key]; !ok {
				order = append(order, key)
			}
			expects[key] = c.msg.Exp
		}
	}
	natted := 0
	for _, key := range order {
		t.Run(key.file+" "+key.key.String(), func(t *testing.T) {
			w := expects[key]
			var e ctnl.Expect
			if err := KernelExpect(&e, &w, ConvertOptions{}); err != nil {
				t.Fatal(err)
			}
			mw, ok := masters[capture{key.file, e.Master}]
			if !ok {
				t.Fatalf("no captured master %s", e.Master)
			}
			var m ctnl.Flow
			if err := KernelFlow(&m, &mw, ConvertOptions{}); err != nil {
				t.Fatal(err)
			}
			ns := netnstest.NewNetNS(t)
			var wr *ctnl.Writer
			var table *ctnl.Table
			if err := ns.Do(func() error {
				var err error
				if wr, err = ctnl.NewWriter(ctnl.WriterConfig{}); err != nil {
					return err
				}
				table, err = ctnl.OpenTable(ctnl.TableConfig{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { wr.Close(); table.Close() })
			reqs := []ctnl.Request{{Op: ctnl.OpCreate, Flow: &m}, {Op: ctnl.OpCreate, Expect: &e}}
			errs := make([]error, len(reqs))
			if err := wr.Apply(reqs, errs); err != nil {
				t.Fatal(err)
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			var got []ctnl.Expect
			if err := table.DumpExpect(ctnl.FamilyAll, func(ev *ctnl.Event) error {
				got = append(got, *ev.Expect)
				return nil
			}, func(err error) { t.Errorf("dump entry skipped: %v", err) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d expectations in the table, want 1", len(got))
			}
			// The kernel sets the timeout from the helper's policy
			// and reports no zone; the ID is its own.
			want := e
			want.Timeout, want.ID, want.Zone = got[0].Timeout, got[0].ID, 0
			if diff := cmp.Diff(want, got[0], cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("committed expectation (-sent +table):\n%s", diff)
			}
			if !e.NAT.IsZero() && e.Function == "nat-follow-master" {
				natted++
			}
		})
	}
	if natted == 0 {
		t.Error("no captured expectation had NAT and nat-follow-master")
	}
}
