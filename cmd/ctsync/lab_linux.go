package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/demo"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/migrate"
)

// labRunnerName names the demo's runner, and so its network namespaces
// (ctsync-HASH-PID-N, netnstest.NewNetNS): the demo's test finds them by it.
const labRunnerName = "ctsync-lab"

// runLab is the demo: the two-firewall lab of internal/lab, the one the
// engine's own tests judge it in (engine/engine_lab_linux_test.go), with a
// ctsync engine on each firewall. It tells on out what happens, step by
// step, and returns what went wrong; the engines log on errOut.
func runLab(ctx context.Context, o labOptions, out, errOut io.Writer) error {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	d := &labDemo{o: o, out: out, log: log}
	// A demo killed with SIGKILL (or a power cut) could not clean up;
	// its namespaces would otherwise stay until the next reboot.
	removed, err := netnstest.RemoveStale(labRunnerName)
	if len(removed) > 0 {
		d.say("deleted %d network namespaces left by an earlier demo that was killed", len(removed))
	}
	if err != nil {
		return err
	}
	err = demo.Run(ctx, labRunnerName, errOut, d.steps)
	if d.built.Load() {
		d.say("cleaned up: engines stopped, namespaces deleted")
	}
	if err != nil {
		return err
	}
	d.say("ok: every connection survived the fail-over")
	return nil
}

// labNames are the modes' and transports' names in the demo's output.
var labNames = map[string]string{
	"ftfw": "FT-FW", "notrack": "NOTRACK", "alarm": "ALARM",
	"udp": "UDP", "multicast": "multicast", "tcp": "TCP",
}

type labDemo struct {
	o   labOptions
	out io.Writer
	log *slog.Logger
	// built says the lab was built, so there was something to clean up.
	built atomic.Bool
}

func (d *labDemo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

// step says what the demo does next, unless it was interrupted: then the
// steps end here, and the runner cleans up.
func (d *labDemo) step(r *demo.Runner, format string, args ...any) {
	if r.Context().Err() != nil {
		runtime.Goexit()
	}
	d.say(format, args...)
}

func (d *labDemo) steps(r *demo.Runner) {
	o := d.o
	nat := ""
	if o.nat {
		nat = ", SNAT on the firewalls"
	}
	d.step(r, "ctsync lab: %s over %s, %d synthetic flows%s", labNames[o.mode], labNames[o.transport], o.flows, nat)
	start := time.Now()
	l := lab.Build(r, lab.Options{NAT: o.nat})
	d.built.Store(true)
	l.StartEcho(r)
	d.step(r, "built the lab in %s: client -> fw1 (primary) | fw2 (backup) -> server, in network namespaces, with a sync link between fw1 and fw2",
		time.Since(start).Round(time.Millisecond))

	fw1 := d.startEngine(r, l, l.FW1)
	fw2 := d.startEngine(r, l, l.FW2)
	// A TCP link connects within a second or so; what is sent before it
	// is parked in a queue of error_queue_length datagrams, and NOTRACK
	// and ALARM do not recover what overflows it (FT-FW does).
	lab.Eventually(r, 10*time.Second, "the sync link to connect both ways", func() (bool, string) {
		for _, e := range []*engine.Engine{fw1, fw2} {
			for _, ls := range e.Snapshot().Links {
				if ls.Client != nil && !*ls.Client {
					return false, ls.Name + ": not connected"
				}
			}
		}
		return true, ""
	})
	d.step(r, "ctsync engines run on fw1 and fw2")

	conns := []*lab.Conn{l.Dial(r, lab.IPv4, 5*time.Second), l.Dial(r, lab.IPv6, 5*time.Second)}
	for _, c := range conns {
		if err := c.Echo(3 * time.Second); err != nil {
			r.Fatalf("%s: echo through fw1: %v", c, err)
		}
		d.step(r, "connection %s (%s) echoes through fw1", c, c.Family)
	}
	start = time.Now()
	if o.flows > 0 {
		insertSynthetic(r, l.FW1, o.flows, func(n int) {
			// Paced by fw1's engine, as real traffic is: a burst
			// of thousands of flows at once would overrun its event
			// socket, and the resync that repairs that comes only
			// after netlink's overrun_resync (30s).
			deadline := time.Now().Add(2 * time.Second)
			for fw1.Snapshot().Internal.Active < uint64(n+len(conns)) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		})
		d.step(r, "created %d synthetic flows in fw1's kernel table in %s", o.flows, time.Since(start).Round(time.Millisecond))
	}

	want := o.flows + len(conns)
	var external uint64
	// The time to replicate grows with the flows; a minute more per
	// 100k is far beyond what FT-FW over a veth needs.
	limit := 30*time.Second + time.Duration(o.flows)*600*time.Microsecond
	lab.Eventually(r, limit, "fw2's external cache to hold fw1's flows", func() (bool, string) {
		external = externalFlows(fw2)
		return external >= uint64(want), fmt.Sprintf("fw2's external cache holds %d flows, want %d", external, want)
	})
	d.step(r, "fw1's kernel tracks %d flows, its internal cache %d; fw2's external cache holds %d, %s after the synthetic flows began",
		l.FW1.Count(r), fw1.Snapshot().Internal.Active, external, time.Since(start).Round(time.Millisecond))
	d.step(r, "fw2's kernel tracks %d flows: a backup keeps what it receives until it takes over", l.FW2.Count(r))

	d.step(r, "failing over to fw2: the virtual addresses move to it, as keepalived would move them")
	l.FailOver(r)
	if o.skipCommit {
		d.step(r, "not committing on fw2")
	} else {
		start = time.Now()
		var committed int64
		err := fw2.Commit(r.Context(), func(p control.Progress) { committed = p.Done })
		if err != nil {
			r.Fatalf("commit on fw2: %v", err)
		}
		d.step(r, "commit on fw2: %d flows in %d ms", committed, time.Since(start).Milliseconds())
	}
	if n := l.FW2.Count(r); n < want {
		r.Errorf("fw2's kernel tracks %d flows after the fail-over, want at least %d", n, want)
	} else {
		d.step(r, "fw2's kernel now tracks %d flows", n)
	}
	for _, c := range conns {
		if err := c.Echo(3 * time.Second); err != nil {
			r.Errorf("connection %s (%s) broke at the fail-over: %v", c, c.Family, err)
			continue
		}
		d.step(r, "connection %s (%s) still echoes, through fw2", c, c.Family)
	}
	d.step(r, "cleaning up")
}

// startEngine opens an engine in fw's namespace and runs it until the
// demo ends.
func (d *labDemo) startEngine(r *demo.Runner, l *lab.Lab, fw *lab.Node) *engine.Engine {
	src := l.CtsyncConfig(fw, d.o.mode, d.o.transport, false)
	loaded := migrate.Load(string(fw.Role)+".hcl", []byte(src), migrate.LoadOptions{Syntax: config.SyntaxHCL})
	if loaded.Diags.HasErrors() {
		r.Fatalf("%s's configuration:\n%s\n%v", fw.Role, src, loaded.Diags)
	}
	var e *engine.Engine
	err := fw.Do(func() (err error) {
		e, err = engine.Open(loaded.Runtime, engine.Options{Log: d.log.With("node", string(fw.Role))})
		return err
	})
	if err != nil {
		r.Fatalf("%s: open the engine: %v", fw.Role, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.Errorf("%s: engine: %v", fw.Role, err)
		}
		e.Close()
	})
	select {
	case <-e.Ready():
	case err := <-done:
		r.Fatalf("%s: the engine stopped before it was ready: %v", fw.Role, err)
	case <-time.After(10 * time.Second):
		r.Fatalf("%s: the engine is not ready after 10s", fw.Role)
	}
	return e
}

// externalFlows is how many live flows e's external cache holds.
func externalFlows(e *engine.Engine) uint64 {
	if s := e.Snapshot(); s.External != nil {
		return s.External.Active
	}
	return 0
}

// Synthetic flows are written batch at a time, and paced every
// syntheticChunk flows.
const (
	batch          = 256
	syntheticChunk = 1024
)

// tcpEstablished is the kernel's TCP_CONNTRACK_ESTABLISHED
// (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
const tcpEstablished = 3

// insertSynthetic creates n of lab.Synthetic's made-up established TCP
// flows in fw's table, through a ctnetlink socket in batches: conntrack -I
// takes a process per flow, too slow for thousands. To fw's engine this is
// another program's write, which it replicates. After every
// syntheticChunk flows it calls pace with the number created so far.
func insertSynthetic(r *demo.Runner, fw *lab.Node, n int, pace func(created int)) {
	var w *ctnl.Writer
	if err := fw.Do(func() (err error) {
		w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256})
		return err
	}); err != nil {
		r.Fatalf("%s: open a conntrack socket: %v", fw.Role, err)
	}
	defer w.Close()
	flows := make([]ctnl.Flow, batch)
	reqs := make([]ctnl.Request, 0, batch)
	errs := make([]error, batch)
	for i := 0; i < n; i += batch {
		reqs = reqs[:0]
		for j := i; j < min(i+batch, n); j++ {
			e := lab.Synthetic(j)
			orig := ctnl.Tuple{Src: e.Src, Dst: e.Dst, Proto: 6, SrcPort: e.SPort, DstPort: e.DPort}
			f := &flows[j-i]
			*f = ctnl.Flow{Orig: orig, Reply: orig.Invert(), Timeout: 600,
				Status:  ctnl.StatusSeenReply | ctnl.StatusAssured,
				Present: ctnl.HasProtoInfo, TCP: ctnl.TCPInfo{State: tcpEstablished}}
			reqs = append(reqs, ctnl.Request{Op: ctnl.OpCreate, Flow: f})
		}
		if err := w.Apply(reqs, errs[:len(reqs)]); err != nil {
			r.Fatalf("%s: create synthetic flows: %v", fw.Role, err)
		}
		for k, err := range errs[:len(reqs)] {
			if err != nil {
				r.Fatalf("%s: create synthetic flow %d: %v", fw.Role, i+k, err)
			}
		}
		if created := i + len(reqs); created%syntheticChunk == 0 || created == n {
			pace(created)
		}
	}
}
