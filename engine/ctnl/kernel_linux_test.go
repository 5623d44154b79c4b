package ctnl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ti-mo/conntrack"
)

// kernelNS is a fresh namespace with a writer and a table opened in it.
type kernelNS struct {
	ns    *netnstest.NetNS
	w     *Writer
	table *Table
}

func newKernelNS(t *testing.T) *kernelNS {
	t.Helper()
	netnstest.RequirePrivileged(t)
	k := &kernelNS{ns: netnstest.NewNetNS(t)}
	err := k.ns.Do(func() error {
		var err error
		if k.w, err = NewWriter(WriterConfig{}); err != nil {
			return err
		}
		k.table, err = OpenTable(TableConfig{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.w.Close(); k.table.Close() })
	return k
}

// apply writes one request and returns its outcome.
func (k *kernelNS) apply(t *testing.T, op Op, f *Flow) error {
	t.Helper()
	errs := make([]error, 1)
	if err := k.w.Apply([]Request{{Op: op, Flow: f}}, errs); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return errs[0]
}

// list is conntrack -L in the namespace, the legacy tool's view.
func (k *kernelNS) list(t *testing.T, args ...string) string {
	t.Helper()
	return k.ns.Exec(t, "conntrack", append([]string{"-L"}, args...)...)
}

// timoDump reads the table with ti-mo's own Dump, a decoder this package
// does not share its encoder with.
func (k *kernelNS) timoDump(t *testing.T) []conntrack.Flow {
	t.Helper()
	var flows []conntrack.Flow
	err := k.ns.Do(func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err = c.Dump(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return flows
}

func tcpFlow(src, dst string, sport, dport uint16) *Flow {
	f := &Flow{
		Orig: Tuple{
			Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
			Proto: protoTCP, SrcPort: sport, DstPort: dport,
		},
		Status:  StatusSeenReply | StatusAssured,
		Timeout: 300,
		Present: HasProtoInfo,
		TCP:     TCPInfo{State: 3}, // ESTABLISHED
	}
	f.Reply = f.Orig.Invert()
	return f
}

func TestKernelCreateNAT(t *testing.T) {
	k := newKernelNS(t)
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	f.SNAT = NAT{MinAddr: netip.MustParseAddr("198.18.2.1"), MaxAddr: netip.MustParseAddr("198.18.2.1"), MinPort: 50000, MaxPort: 50000}
	f.Status |= StatusSrcNAT | StatusSrcNATDone
	if err := k.apply(t, OpCreate, f); err != nil {
		t.Fatalf("create: %v", err)
	}
	out := k.list(t)
	t.Log(out)
	flows := k.timoDump(t)
	if len(flows) != 1 {
		t.Fatalf("got %d flows, want 1", len(flows))
	}
	t.Logf("%+v", flows[0])
	_ = strings.Contains
	_ = errors.Is
}
