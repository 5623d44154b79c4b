//go:build linux

// Command figures measures issue 8's design targets for `ctsync daemon`
// the way the legacy baseline measured conntrackd 1.4.7: two firewalls
// of the lab (internal/lab) in network namespaces, each running a
// `ctsync daemon` process, FT-FW over UDP on the sync link; N established
// TCP entries created in fw1's kernel through ctnetlink. For each N it
// reports
//
//   - daemon CPU per replicated event, sender and receiver: user+sys from
//     /proc/PID/stat before the N creates and once fw2's external cache
//     holds N, divided by N;
//   - RSS per cached entry, both sides: VmRSS over the same interval, / N;
//   - bytes, datagrams and messages on the wire per update, from the
//     daemons' own link and sync counters;
//   - wall time of `ctsync bulk` on fw1 until fw2 has applied N more
//     messages, and of a full resync: fw2's daemon restarted (empty
//     caches), `ctsync resync` until its external cache holds N;
//   - wall time of `ctsync commit` on fw2 until `conntrack -C` shows N,
//     next to the kernel's own limit: N creates through engine/ctnl's
//     Writer in batches of 256 into a namespace with no daemon, once
//     into an otherwise empty table, then twice while fw1 holds its N
//     (the kernel has one table for all namespaces), without and with an
//     event listener that drops the events.
//
// Each N runs -runs times; the table shows the best of the runs (the
// machine is shared, so the best is the least disturbed), the log on
// stderr every run. It needs root and the lab's tools (ip, nft,
// conntrack), and a built ctsync:
//
//	go build -o /tmp/ctsync ./cmd/ctsync
//	sudo go run ./internal/figures -ctsync /tmp/ctsync -n 100000,1000000 -runs 3
//
// When net.netfilter.nf_conntrack_max, a global sysctl, is too low for
// three tables of N, it raises it and puts it back when done.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

func main() {
	bin := flag.String("ctsync", "ctsync", "the ctsync binary the daemons and clients run")
	ns := flag.String("n", "100000", "comma-separated numbers of flows to measure")
	runs := flag.Int("runs", 3, "runs per number of flows; the table shows the best")
	keep := flag.String("keep", "", "a directory to keep each run's daemon logs and final stats in, for a diagnosis")
	gogc := flag.String("gogc", "", "GOGC for the daemons (default: the Go runtime's, 100), to weigh memory against CPU")
	flag.Parse()
	var counts []int
	for s := range strings.SplitSeq(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1000 || n > maxFlows {
			fmt.Fprintf(os.Stderr, "figures: -n %q: want numbers from 1000 to %d\n", s, maxFlows)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "figures: -runs: want at least 1")
		os.Exit(2)
	}
	path, err := exec.LookPath(*bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "figures: -ctsync: %v\n", err)
		os.Exit(2)
	}
	// The lab refuses to build namespaces unless told it may.
	os.Setenv(netnstest.EnvVar, "1")
	if *gogc != "" {
		// The daemons inherit the environment.
		os.Setenv("GOGC", *gogc)
	}

	t := &tb{name: "figures"}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "figures: interrupted; cleaning up")
		t.cleanup()
		os.Exit(1)
	}()
	code := 0
	if err := measureAll(t, path, counts, *runs, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "figures: %v\n", err)
		code = 1
	}
	t.cleanup()
	os.Exit(code)
}

// measureAll measures each count runs times and prints the table.
func measureAll(t *tb, bin string, counts []int, runs int, keep string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	raiseConntrackMax(t, 3*counts[len(counts)-1]+262144)
	baseline := slabObjects()
	var best []result
	for _, n := range counts {
		var b result
		ok := 0
		for i := range runs {
			waitSlab(baseline)
			r, err := try(func() result { return measure(t, bin, n, baseline, keepIn(keep, n, i)) })
			if err != nil {
				// The machine is shared: one failed run (a timeout)
				// should not lose the others.
				fmt.Fprintf(os.Stderr, "N=%d run %d failed: %v\n", n, i+1, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "N=%d run %d: %s\n", n, i+1, r)
			if ok == 0 {
				b = r
			} else {
				b = b.best(r)
			}
			ok++
		}
		if ok == 0 {
			return fmt.Errorf("every run of %d flows failed", n)
		}
		b.Runs = ok
		best = append(best, b)
	}
	printTable(os.Stdout, best)
	return nil
}

// try runs f and turns a failure (tb's Fatalf) into an error.
func try(f func() result) (r result, err error) {
	defer func() {
		if p := recover(); p != nil {
			ft, ok := p.(fatal)
			if !ok {
				panic(p)
			}
			err = errors.New(ft.msg)
		}
	}()
	return f(), nil
}

// keepIn names the files a run keeps, "" for none.
func keepIn(dir string, n, run int) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, fmt.Sprintf("n%d-run%d", n, run+1))
}

// measure is one run at n flows. With keep set, the daemons' logs and
// final stats are written to files named keep-fw1.log and so on.
func measure(t *tb, bin string, n, baseline int, keep string) result {
	r := result{N: n}
	run := &tb{name: fmt.Sprintf("figures-%d", n)}
	t.Cleanup(run.cleanup)
	defer run.cleanup()

	// The kernel's limit, in a namespace of its own, first into an
	// empty table.
	r.KernelInsertEmpty = kernelLimit(t, run, n, false, baseline)

	l := lab.New(run, lab.Options{})
	d1 := startDaemon(run, bin, l.FW1, l.FW2, n)
	d2 := startDaemon(run, bin, l.FW2, l.FW1, n)
	if keep != "" {
		// Registered after the daemons' stops, so run first.
		run.Cleanup(func() {
			for _, d := range []*daemon{d1, d2} {
				d.keep(keep + "-" + string(d.fw.Role))
			}
		})
	}
	time.Sleep(time.Second) // startup dumps and link set-up settle
	u1, u2 := d1.usage(run), d2.usage(run)
	s1 := d1.stats(run)

	start := time.Now()
	if err := create(l.FW1.NetNS, n); err != nil {
		t.Fatalf("fill fw1: %v", err)
	}
	r.Fill = time.Since(start)
	limit := time.Minute + time.Duration(n/2000)*time.Second
	r.Replicated = d2.waitFor(run, 200*time.Millisecond, limit, fmt.Sprintf("%d flows in fw2's external cache", n),
		func(s stats) bool { return s.Caches.External.Active >= uint64(n) }).Sub(start)
	// Acknowledgements and the last resends go on a little after the
	// last entry arrived.
	time.Sleep(time.Second)
	v1, v2 := d1.usage(run), d2.usage(run)
	e1 := d1.stats(run)
	r.CPUSender = (v1.CPU - u1.CPU) / time.Duration(n)
	r.CPUReceiver = (v2.CPU - u2.CPU) / time.Duration(n)
	r.RSSSender = float64(v1.RSS-u1.RSS) / float64(n)
	r.RSSReceiver = float64(v2.RSS-u2.RSS) / float64(n)
	r.RSSSenderMB, r.RSSReceiverMB = float64(v1.RSS)/(1<<20), float64(v2.RSS)/(1<<20)
	b0, p0 := s1.sent()
	b1, p1 := e1.sent()
	r.BytesPerUpdate = float64(b1-b0) / float64(n)
	r.DatagramsPerUpdate = float64(p1-p0) / float64(n)
	r.Overruns = e1.Ingest.Overruns - s1.Ingest.Overruns
	r.Resyncs = e1.Ingest.Resyncs - s1.Ingest.Resyncs
	if dg := e1.Sync.Datagrams - s1.Sync.Datagrams; dg > 0 {
		r.MessagesPerDatagram = float64(e1.Sync.Messages-s1.Sync.Messages) / float64(dg)
	}

	// A bulk send, until fw2 has applied n messages more. A few may be
	// resends of one flow, so this is a little early at worst; the
	// acknowledgements still trickle in after, by FT-FW's timers, and
	// are waited for without timing them, so that nothing of the bulk
	// reaches the restarted fw2 below.
	applied := d2.stats(run).Sync.Applied
	u1, u2 = d1.usage(run), d2.usage(run)
	start = time.Now()
	d1.mustCtl(run, "bulk")
	limit = time.Minute + time.Duration(n/5000)*time.Second
	r.Bulk = d2.waitFor(run, 20*time.Millisecond, limit, "the bulk", func(s stats) bool {
		return s.Sync.Applied >= applied+uint64(n)
	}).Sub(start)
	sent := d1.stats(run).Sync.Datagrams // the whole bulk, as fw2 has it all
	d1.waitFor(run, 100*time.Millisecond, limit, "fw2 to acknowledge the bulk", func(s stats) bool {
		return bulkAcknowledged(s, sent)
	})
	r.BulkCPU = cpuSince(run, u1, u2, d1, d2)

	// A full resync of a restarted fw2.
	d2.stop(run)
	d2.start(run)
	if got := d2.stats(run).Caches.External.Active; got != 0 {
		t.Fatalf("fw2's external cache holds %d flows right after a restart, want 0", got)
	}
	u1, u2 = d1.usage(run), d2.usage(run)
	start = time.Now()
	d2.mustCtl(run, "resync")
	r.Resync = d2.waitFor(run, 20*time.Millisecond, limit, fmt.Sprintf("%d flows in fw2's external cache", n),
		func(s stats) bool { return s.Caches.External.Active >= uint64(n) }).Sub(start)
	r.ResyncCPU = cpuSince(run, u1, u2, d1, d2)

	// The kernel's limit in the commit's conditions: the kernel has one
	// table for all namespaces, and fw1's n flows are in it, which slows
	// every insert (longer chains to check for a clash). Without and
	// with a listener for the events, which a daemon always is.
	r.KernelInsert = kernelLimit(t, run, n, false, baseline+n)
	r.KernelInsertListened = kernelLimit(t, run, n, true, baseline+n)

	// The commit into fw2's kernel, which holds none of the flows yet.
	if got := count(run, l.FW2); got >= n/100 {
		t.Fatalf("fw2's kernel tracks %d flows before the commit, want none of the %d", got, n)
	}
	u1, u2 = d1.usage(run), d2.usage(run)
	start = time.Now()
	d2.mustCtl(run, "commit")
	deadline := start.Add(time.Minute + time.Duration(n/2000)*time.Second)
	for {
		got := count(run, l.FW2)
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fw2's kernel tracks %d flows %v after the commit started, want %d", got, time.Since(start), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Commit = time.Since(start)
	r.CommitCPU = cpuSince(run, u1, u2, d1, d2)
	r.CommitSys = d2.usage(run).Sys - u2.Sys
	return r
}

// cpuSince is the CPU each daemon spent since u1 and u2.
func cpuSince(t *tb, u1, u2 usage, d1, d2 *daemon) [2]time.Duration {
	return [2]time.Duration{d1.usage(t).CPU - u1.CPU, d2.usage(t).CPU - u2.CPU}
}

// kernelLimit is how long n creates through ctnl.Writer take in a
// namespace of their own, with an event listener that drops the events
// or without; the namespace is deleted afterwards, and its entries freed
// (down to settled in the whole kernel) before kernelLimit returns.
func kernelLimit(t, run *tb, n int, listen bool, settled int) time.Duration {
	k := &tb{name: "kernel"}
	run.Cleanup(k.cleanup)
	defer k.cleanup()
	ns := netnstest.NewNetNS(k)
	if listen {
		stop, err := drainEvents(ns)
		if err != nil {
			t.Fatalf("kernel limit: %v", err)
		}
		k.Cleanup(stop)
	}
	start := time.Now()
	if err := create(ns, n); err != nil {
		t.Fatalf("kernel limit: %v", err)
	}
	took := time.Since(start)
	k.cleanup()
	waitSlab(settled)
	return took
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

const conntrackMax = "/proc/sys/net/netfilter/nf_conntrack_max"

// raiseConntrackMax makes every namespace's table take at least n
// entries (the limit is the initial namespace's, for all of them) until
// t's cleanups put the old value back.
func raiseConntrackMax(t *tb, n int) {
	b, err := os.ReadFile(conntrackMax)
	if err != nil {
		t.Fatalf("nf_conntrack_max: %v (is nf_conntrack loaded? modprobe nf_conntrack)", err)
	}
	old := strings.TrimSpace(string(b))
	cur, err := strconv.Atoi(old)
	if err != nil {
		t.Fatalf("nf_conntrack_max: %q is not a number", old)
	}
	if cur >= n {
		return
	}
	if err := os.WriteFile(conntrackMax, []byte(strconv.Itoa(n)), 0); err != nil {
		t.Fatalf("nf_conntrack_max: %v", err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(conntrackMax, []byte(old), 0); err != nil {
			t.Errorf("nf_conntrack_max: putting back %s: %v", old, err)
		}
	})
}

// slabObjects is how many conntrack entries the kernel holds in all
// namespaces (the nf_conntrack slab's active objects), -1 if unknown.
func slabObjects() int {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "nf_conntrack" {
			n, err := strconv.Atoi(f[1])
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// waitSlab waits, for at most a minute, until the entries of the
// namespaces a previous run deleted are freed (the kernel does it in the
// background), so that work does not count against the next run.
func waitSlab(baseline int) {
	if baseline < 0 {
		return
	}
	for range 600 {
		if slabObjects() <= baseline+50000 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "figures: the kernel still frees conntrack entries after a minute (%d, %d at start); going on\n", slabObjects(), baseline)
}
