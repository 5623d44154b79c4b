//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// load is what every run generates, for either daemon.
type load struct {
	// N synthetic entries created at Rate a second (0: unpaced) while
	// Conns real TCP connections go through fw1; then, in a lab of its
	// own, N more from Writers goroutines as fast as the kernel takes
	// them.
	N, Conns, Writers, Rate int
}

// measure is one run of the daemon named name at ld: figures' fields, in
// two labs of its own. With kernel set, it also measures the kernel's
// limit for batched inserts while fw1 holds its entries, as during the
// commit. baseline is the kernel's count of conntrack entries before the
// run (slabObjects).
func measure(t *tb, name, bin string, ld load, baseline int, kernel bool, keep string) (figures, kernelLimits) {
	f := figures{Daemon: name, N: ld.N, Conns: ld.Conns}
	k := measureLoad(t, name, bin, ld, baseline, kernel, keep, &f)
	waitSlab(baseline)
	measureBurst(t, name, bin, ld, keep, &f)
	return f, k
}

// pair is a lab with the daemon under test on both firewalls, all gone
// when run's cleanups run.
func pair(run *tb, name, bin string, n int, keep string) (*lab.Lab, syncDaemon, syncDaemon) {
	l := lab.New(run, lab.Options{})
	d1 := startSyncDaemon(run, name, bin, l.FW1, l.FW2, n)
	d2 := startSyncDaemon(run, name, bin, l.FW2, l.FW1, n)
	if keep != "" {
		// Registered after the daemons' stops, so run first.
		run.Cleanup(func() {
			d1.keep(keep + "-" + name + "-fw1")
			d2.keep(keep + "-" + name + "-fw2")
		})
	}
	time.Sleep(time.Second) // startup dumps and link set-up settle
	return l, d1, d2
}

// awaitReplicated polls fw2's daemon until its external cache holds want
// entries or, since one lost to an overrun does not come until the
// overrun resync, until the cache has stopped growing for 5 s.
func awaitReplicated(t, run *tb, name string, d2 syncDaemon, want uint64, limit time.Duration) counters {
	var c counters
	last, lastChange := uint64(0), time.Now()
	deadline := time.Now().Add(limit)
	for {
		c = d2.counters(run)
		if c.External >= want {
			return c
		}
		if c.External != last {
			last, lastChange = c.External, time.Now()
		}
		if time.Since(lastChange) > 5*time.Second {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fw2's external cache holds %d entries after %v, want %d", name, c.External, limit, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// measureLoad is the paced load's figures, then bulk, resync and commit.
func measureLoad(t *tb, name, bin string, ld load, baseline int, kernel bool, keep string, f *figures) (k kernelLimits) {
	n := ld.N
	run := &tb{name: fmt.Sprintf("figures-%s-%d", name, n)}
	t.Cleanup(run.cleanup)
	defer run.cleanup()
	l, d1, d2 := pair(run, name, bin, n, keep)
	l.StartEcho(run)

	// Replication: the synthetic entries and the TCP connections at
	// once, every event counted by a listener of fw1's own.
	ev, err := listenEvents(l.FW1.NetNS)
	if err != nil {
		t.Fatalf("fw1: %v", err)
	}
	run.Cleanup(ev.stop)
	u1, u2 := usageOf(run, d1), usageOf(run, d2)
	w0 := wire(run, l.FW1)
	o0 := d1.overruns(run)
	e0 := ev.count()
	start := time.Now()
	tcp := make(chan error, 1)
	go func() { tcp <- tcpLoad(l, ld.Conns) }()
	if err := create(l.FW1.NetNS, gen{N: n, Writers: ld.Writers, Rate: ld.Rate}); err != nil {
		t.Fatalf("fill fw1: %v", err)
	}
	f.Fill = time.Since(start)
	if err := <-tcp; err != nil {
		t.Fatalf("TCP connections through fw1: %v", err)
	}
	// Every entry, synthetic or a connection's (in TIME_WAIT for two
	// minutes after its close), should reach fw2's external cache.
	want := uint64(n + ld.Conns)
	limit := time.Minute + time.Duration(n/2000)*time.Second
	awaitReplicated(t, run, name, d2, want, limit)
	f.Replicated = time.Since(start)
	// Acknowledgements and the last resends go on a little after the
	// last entry arrived.
	time.Sleep(time.Second)
	v1, v2 := usageOf(run, d1), usageOf(run, d2)
	f.Events = ev.count() - e0
	f.ListenerOverruns = ev.overruns()
	w1 := wire(run, l.FW1)
	c1 := d1.counters(run)
	c2 := d2.counters(run)
	o1 := d1.overruns(run)
	if f.Events == 0 {
		t.Fatalf("%s: the listener in fw1 counted no event", name)
	}
	f.CPUSender = (v1.CPU - u1.CPU) / time.Duration(f.Events)
	f.CPUReceiver = (v2.CPU - u2.CPU) / time.Duration(f.Events)
	f.Cached = [2]uint64{c1.Internal, c2.External}
	f.RSSSender = float64(v1.RSS-u1.RSS) / float64(max(1, c1.Internal))
	f.RSSReceiver = float64(v2.RSS-u2.RSS) / float64(max(1, c2.External))
	f.RSSSenderMB, f.RSSReceiverMB = float64(v1.RSS)/(1<<20), float64(v2.RSS)/(1<<20)
	f.BytesPerUpdate = float64(w1.bytes-w0.bytes) / float64(f.Events)
	f.DatagramsPerUpdate = float64(w1.packets-w0.packets) / float64(f.Events)
	f.LoadOverruns = o1 - o0
	if c2.External < want {
		f.LoadMissing = want - c2.External
		// The overrun resync (30 s after the overrun by default, in
		// both daemons) should bring them; the next figures start from
		// a complete copy if it does.
		waitExternal(run, d2, want, 90*time.Second)
	}

	// A bulk send, until fw2 has applied n messages more (a few may be
	// resends of one entry, so this is a little early at worst); then,
	// untimed, until fw1 has its acknowledgements, so that nothing of
	// the bulk reaches the restarted fw2 below.
	applied := d2.counters(run).Applied
	start = time.Now()
	d1.bulk(run)
	limit = time.Minute + time.Duration(n/5000)*time.Second
	deadline := start.Add(limit)
	for d2.counters(run).Applied < applied+uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: fw2 applied %d of the bulk's %d updates after %v", name, d2.counters(run).Applied-applied, n, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.Bulk = time.Since(start)
	d1.acked(run, limit)

	// A full resync of a restarted fw2.
	d2.restart(run)
	if got := d2.counters(run).External; got != 0 {
		t.Fatalf("%s: fw2's external cache holds %d entries right after a restart, want 0", name, got)
	}
	start = time.Now()
	d2.resync(run)
	if !waitExternal(run, d2, uint64(n), limit) {
		t.Fatalf("%s: fw2's external cache holds %d entries %v after the resync request, want %d", name, d2.counters(run).External, limit, n)
	}
	f.Resync = time.Since(start)

	if kernel {
		// The kernel has one table for all namespaces, and fw1's
		// entries are in it, which slows every insert (longer chains to
		// check for a clash). Without and with a listener for the
		// events, which a daemon always is. The best of two each: a
		// busy machine slows one insert run now and then, and a slow
		// limit would flatter the commit.
		for i := range 2 {
			in, li := kernelLimit(t, run, n, false, baseline+n), kernelLimit(t, run, n, true, baseline+n)
			if i == 0 {
				k = kernelLimits{in, li}
			}
			k.Insert, k.Listened = min(k.Insert, in), min(k.Listened, li)
		}
	}

	// The commit into fw2's kernel, which holds none of the entries yet.
	if got := count(run, l.FW2); got >= n/100 {
		t.Fatalf("%s: fw2's kernel tracks %d entries before the commit, want none of the %d", name, got, n)
	}
	start = time.Now()
	d2.commit(run)
	deadline = start.Add(time.Minute + time.Duration(n/2000)*time.Second)
	for {
		got := count(run, l.FW2)
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fw2's kernel tracks %d entries %v after the commit started, want %d", name, got, time.Since(start), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.Commit = time.Since(start)
	return k
}

// measureBurst is the overruns at the highest event rate the generator
// reaches: in a fresh lab, N entries from ld.Writers goroutines as fast
// as the kernel takes them; then each daemon's own count of its event
// socket's overruns, and the entries fw2 lacks once its external cache
// has stopped growing, before any overrun resync.
func measureBurst(t *tb, name, bin string, ld load, keep string, f *figures) {
	n := ld.N
	run := &tb{name: fmt.Sprintf("figures-%s-%d-burst", name, n)}
	t.Cleanup(run.cleanup)
	defer run.cleanup()
	if keep != "" {
		keep += "-burst"
	}
	l, d1, d2 := pair(run, name, bin, n, keep)
	o0 := d1.overruns(run)
	start := time.Now()
	if err := create(l.FW1.NetNS, gen{N: n, Writers: ld.Writers}); err != nil {
		t.Fatalf("burst into fw1: %v", err)
	}
	f.Burst = time.Since(start)
	c2 := awaitReplicated(t, run, name, d2, uint64(n), time.Minute+time.Duration(n/2000)*time.Second)
	f.Overruns = d1.overruns(run) - o0
	if c2.External < uint64(n) {
		f.Missing = uint64(n) - c2.External
	}
}

// waitExternal polls d's external cache until it holds want entries,
// for at most limit, and says whether it got there.
func waitExternal(t *tb, d syncDaemon, want uint64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for d.counters(t).External < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func usageOf(t *tb, d syncDaemon) usage {
	u, err := readUsage(d.pid())
	if err != nil {
		t.Fatalf("daemon %d: %v", d.pid(), err)
	}
	return u
}

// traffic is what an interface sent.
type traffic struct{ bytes, packets uint64 }

// wire reads what fw's sync interface has sent, from the kernel's
// counters (`ip -s -j link`): the same measure for both daemons,
// whatever each counts itself, Ethernet, IP and UDP headers included.
func wire(t *tb, fw *lab.Node) traffic {
	out, err := exec.Command("ip", "-n", fw.Name, "-s", "-j", "link", "show", "dev", fw.Sync).Output()
	if err != nil {
		t.Fatalf("%s: ip -s link show dev %s: %v", fw.Role, fw.Sync, err)
	}
	tr, err := parseLinkStats(out)
	if err != nil {
		t.Fatalf("%s: ip -s -j link show dev %s: %v", fw.Role, fw.Sync, err)
	}
	return tr
}

// parseLinkStats reads the sent bytes and packets from `ip -s -j link
// show dev IF`'s output.
func parseLinkStats(out []byte) (traffic, error) {
	var links []struct {
		Stats64 *struct {
			TX struct {
				Bytes   uint64 `json:"bytes"`
				Packets uint64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return traffic{}, err
	}
	if len(links) != 1 || links[0].Stats64 == nil {
		return traffic{}, fmt.Errorf("want one link with stats64, got %s", out)
	}
	return traffic{links[0].Stats64.TX.Bytes, links[0].Stats64.TX.Packets}, nil
}

// kernelLimits are the kernel's own times for N batched creates while
// fw1 holds its N: without an event listener, and with one.
type kernelLimits struct{ Insert, Listened time.Duration }

// kernelLimit is how long n creates through ctnl.Writer (one writer, as
// a commit has) take in a namespace of their own, with an event listener
// that drops the events or without; the namespace is deleted afterwards,
// and its entries freed (down to settled in the whole kernel) before
// kernelLimit returns. The creates run in a process of their own (this
// command again, with -kernel-insert) under the normal scheduler, as
// ctsync's commit runs (only its event reader is real-time); conntrackd,
// one thread, commits under SCHED_RR at 99, which on a busy machine can
// put it ahead of this limit.
func kernelLimit(t, run *tb, n int, listen bool, settled int) time.Duration {
	k := &tb{name: "kernel"}
	run.Cleanup(k.cleanup)
	defer k.cleanup()
	ns := netnstest.NewNetNS(k)
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("kernel limit: %v", err)
	}
	args := []string{"-kernel-insert", strconv.Itoa(n)}
	if listen {
		args = append(args, "-kernel-insert-listen")
	}
	cmd := ns.Command(self, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kernel limit: %s %s: %v: %s", self, strings.Join(args, " "), err, stderr.String())
	}
	took, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || took <= 0 {
		t.Fatalf("kernel limit: %q is not a duration in nanoseconds", out)
	}
	k.cleanup()
	waitSlab(settled)
	return time.Duration(took)
}

// kernelInsert is the -kernel-insert process: n creates in this
// process's namespace, optionally with an event listener; it prints how
// long they took, in nanoseconds.
func kernelInsert(n int, listen bool) error {
	if listen {
		ev, err := listenEvents(nil)
		if err != nil {
			return err
		}
		defer ev.stop()
	}
	start := time.Now()
	if err := create(nil, gen{N: n, Writers: 1}); err != nil {
		return err
	}
	fmt.Println(int64(time.Since(start)))
	return nil
}

// count is `conntrack -C` in fw: how many entries its table holds.
func count(t *tb, fw *lab.Node) int {
	out, err := fw.Command("conntrack", "-C").Output()
	if err != nil {
		t.Fatalf("conntrack -C in %s: %v", fw.Role, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("conntrack -C in %s: %q is not a count", fw.Role, out)
	}
	return n
}
