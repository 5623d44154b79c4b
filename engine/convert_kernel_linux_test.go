package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/wire"
)

// Every flow conntrackd sent in the captures, received into an external
// cache and committed with a commit walk into the conntrack table of a
// fresh namespace, is in the table as the primary had it: the reply tuple
// shows the same NAT (so the backup translates the connection's packets),
// the status the NAT bits, the related flows their master (created after
// it: the kernel refuses a related flow whose master it lacks); and the
// TCP flags and window scales are the ones the options ask for.
// conntrack -L, which shares no code with ctsync, shows the NAT of the
// captured DNAT flow.
func TestKernelFlowCommitted(t *testing.T) {
	netnstest.RequirePrivileged(t)
	now := time.Unix(1_700_000_000, 0)
	ext, err := cache.NewFlows(cache.Settings{Buckets: 1024, Limit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	where := map[cache.Key]string{}
	// Related flows enter the cache first, so that its own order would
	// commit them before their masters.
	var msgs []capturedMessage
	for pass := range 2 {
		for _, c := range capturedMessages(t) {
			related := c.msg.Flow.Has(wire.AttrMasterIPv4) || c.msg.Flow.Has(wire.AttrMasterIPv6)
			if related == (pass == 0) {
				msgs = append(msgs, c)
			}
		}
	}
	for _, c := range msgs {
		if c.msg.Type != wire.TypeCTNew && c.msg.Type != wire.TypeCTUpdate {
			continue
		}
		var f cache.Flow
		if err := CacheFromWire(&f, &c.msg.Flow); err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		ResolvePorts(&f, func(k cache.Key) bool { _, ok := ext.Find(k); return ok })
		if c.msg.Type == wire.TypeCTNew {
			ext.Replace(&f, now)
		} else {
			ext.Update(&f, now)
		}
		where[f.Key()] = c.where
	}
	for _, o := range []ConvertOptions{{WindowTracking: true}, {}} {
		t.Run(fmt.Sprintf("window tracking %v", o.WindowTracking), func(t *testing.T) {
			ns := netnstest.NewNetNS(t)
			var w *ctnl.Writer
			var table *ctnl.Table
			err := ns.Do(func() error {
				var err error
				if w, err = ctnl.NewWriter(ctnl.WriterConfig{}); err != nil {
					return err
				}
				table, err = ctnl.OpenTable(ctnl.TableConfig{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close(); table.Close() })
			// One Apply per step of the walk, as a commit does, in
			// small steps so that masters and related flows fall in
			// different steps.
			var flows []*ctnl.Flow
			var whence []string
			var walk CommitWalk
			for done := false; !done; {
				var step []*ctnl.Flow
				done = walk.Step(ext, 7, func(_ cache.Ref, e *cache.Entry) {
					f := new(ctnl.Flow)
					if err := CommitFlow(f, e, now, o); err != nil {
						t.Fatalf("%s: %v", where[e.Flow.Key()], err)
					}
					step = append(step, f)
					whence = append(whence, where[e.Flow.Key()])
				})
				reqs := make([]ctnl.Request, len(step))
				for i, f := range step {
					reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: f}
				}
				errs := make([]error, len(reqs))
				if err := w.Apply(reqs, errs); err != nil {
					t.Fatal(err)
				}
				for i, err := range errs {
					if err != nil {
						t.Errorf("%s: create %v: %v", whence[len(flows)+i], step[i].Orig, err)
					}
				}
				flows = append(flows, step...)
			}
			if len(flows) != ext.Len() {
				t.Errorf("%d flows committed, want the %d cached", len(flows), ext.Len())
			}
			natted := 0
			for i, f := range flows {
				got, err := table.Get(f.Orig, f.Zone)
				if err != nil {
					t.Errorf("%s: get %v: %v", whence[i], f.Orig, err)
					continue
				}
				checkCommitted(t, whence[i], f, &got, o)
				if !f.SNAT.IsZero() || !f.DNAT.IsZero() {
					natted++
				}
			}
			if natted == 0 {
				t.Error("no captured flow had NAT")
			}
			out := ns.Exec(t, "conntrack", "-L", "-p", "tcp", "--orig-src", "198.18.0.70")
			for _, s := range []string{"src=198.18.0.70 dst=198.18.0.71 sport=3333 dport=80", "src=203.0.113.7 dst=198.18.0.70 sport=8080 dport=3333", "[ASSURED]"} {
				if !strings.Contains(out, s) {
					t.Errorf("conntrack -L shows\n%s\nwithout %q", out, s)
				}
			}
		})
	}
}

// checkCommitted compares the flow the kernel holds with the flow written.
func checkCommitted(t *testing.T, where string, f, got *ctnl.Flow, o ConvertOptions) {
	t.Helper()
	if got.Reply != f.Reply {
		t.Errorf("%s: reply %v, want %v (NAT %+v %+v)", where, got.Reply, f.Reply, f.SNAT, f.DNAT)
	}
	if got.SNAT != f.SNAT || got.DNAT != f.DNAT {
		t.Errorf("%s: NAT %+v %+v, want %+v %+v", where, got.SNAT, got.DNAT, f.SNAT, f.DNAT)
	}
	if f.Master != got.Master {
		t.Errorf("%s: master %v, want %v", where, got.Master, f.Master)
	}
	if got.Helper != f.Helper {
		t.Errorf("%s: helper %q, want %q", where, got.Helper, f.Helper)
	}
	if got.Mark != f.Mark || got.Zone != f.Zone {
		t.Errorf("%s: mark %d zone %d, want %d %d", where, got.Mark, got.Zone, f.Mark, f.Zone)
	}
	const nat = ctnl.StatusSrcNAT | ctnl.StatusDstNAT
	if got.Status&nat != f.Status&nat {
		t.Errorf("%s: status %#x, want NAT bits of %#x", where, got.Status, f.Status)
	}
	if f.Orig.Proto != protoTCP || f.Present&ctnl.HasProtoInfo == 0 {
		return
	}
	if got.TCP.State != f.TCP.State {
		t.Errorf("%s: TCP state %d, want %d", where, got.TCP.State, f.TCP.State)
	}
	for _, fl := range []ctnl.TCPFlags{got.TCP.FlagsOrig, got.TCP.FlagsReply} {
		if fl.Flags&f.TCP.FlagsOrig.Flags != f.TCP.FlagsOrig.Flags {
			t.Errorf("%s: TCP flags %#x, want at least %#x", where, fl.Flags, f.TCP.FlagsOrig.Flags)
		}
	}
	// The kernel takes the window scales only from a flow whose both
	// directions have WINDOW_SCALE (ctnetlink's nlattr_to_tcp).
	if o.WindowTracking && (got.TCP.WScaleOrig != f.TCP.WScaleOrig || got.TCP.WScaleReply != f.TCP.WScaleReply) {
		t.Errorf("%s: window scales %d %d, want %d %d", where, got.TCP.WScaleOrig, got.TCP.WScaleReply, f.TCP.WScaleOrig, f.TCP.WScaleReply)
	}
}
