//go:build linux

// Command figures measures ctsync against conntrackd 1.4.7, side by side,
// and writes docs/benchmarks.md: both daemons in the same namespace lab
// (internal/lab), one after the other, on the same generated load, FT-FW
// over UDP on the sync link. For each N and each run it builds a lab per
// daemon, starts the daemon on fw1 and fw2, and measures
//
//   - daemon CPU per event, sender and receiver, RSS growth per cached
//     entry, and bytes and datagrams on the wire per event (from fw1's
//     sync interface counters), while N synthetic entries are created
//     in fw1 through ctnetlink at a paced rate (-rate) and real short
//     TCP connections go through fw1; the events are counted by a
//     listener of its own in fw1, the same denominator for both;
//   - in a fresh lab, each daemon's own count of event socket overruns,
//     and the entries missing at the peer, while N entries are created
//     by several writers as fast as the kernel takes them;
//   - wall time of a bulk send, of a full resync of a restarted fw2,
//     and of a commit of N into fw2's kernel, next to the kernel's own
//     limit for N batched inserts in the same conditions.
//
// It prints the table and the targets' verdicts, and with -md writes the
// document (from benchmarks.md.tmpl, whose text is the hand-written part)
// and, next to it, the chart as SVG. As root, with ip, nft, conntrack and
// conntrackd installed; it builds ctsync unless given -ctsync:
//
//	sudo go run ./internal/figures -n 100000,1000000 -md docs/benchmarks.md -readme README.md
//
// -readme rewrites the README's summary between its markers.
// When net.netfilter.nf_conntrack_max, a global sysctl, is too low for
// three tables of N, it raises it and puts it back when done.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// options are the command's flags.
type options struct {
	bin                  string
	counts               []int
	runs, conns, writers int
	rate                 int
	md, chart, readme    string
	keep, gogc, note     string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "ctsync", "", "the ctsync binary the daemons and clients run (default: build ./cmd/ctsync into a temporary directory)")
	ns := flag.String("n", "100000", "comma-separated numbers of synthetic entries to measure")
	flag.IntVar(&o.runs, "runs", 1, "runs per number of entries; the table shows the best")
	flag.IntVar(&o.conns, "conns", 2000, "short real TCP connections through fw1 during each replication")
	flag.IntVar(&o.rate, "rate", 25000, "synthetic entries created a second while CPU, memory and wire are measured (0: as fast as the kernel takes them)")
	flag.IntVar(&o.writers, "writers", 4, "goroutines creating the synthetic entries at once, for the burst at the highest rate")
	flag.StringVar(&o.md, "md", "", "write the Markdown document here (and the chart next to it)")
	flag.StringVar(&o.chart, "chart", "", "write the chart (SVG) here (default: -md's path with .svg for .md)")
	flag.StringVar(&o.readme, "readme", "", "rewrite the benchmarks summary between its markers in this file (README.md)")
	flag.StringVar(&o.note, "note", "", "a remark on the run, printed at the top of the document and the summary (e.g. that the machine was busy)")
	flag.StringVar(&o.keep, "keep", "", "a directory to keep each run's daemon logs and final stats in, for a diagnosis")
	flag.StringVar(&o.gogc, "gogc", "", "GOGC for the ctsync daemons (default: the daemon's own, 50), to weigh memory against CPU")
	insert := flag.Int("kernel-insert", 0, "internal: create this many entries in this namespace and print how long it took")
	insertListen := flag.Bool("kernel-insert-listen", false, "internal: with -kernel-insert, listen to the events meanwhile")
	flag.Parse()
	if *insert > 0 {
		// What kernelLimit runs, in the namespace it made.
		if err := kernelInsert(*insert, *insertListen); err != nil {
			fmt.Fprintf(os.Stderr, "figures -kernel-insert: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := o.parse(*ns); err != nil {
		fmt.Fprintf(os.Stderr, "figures: %v\n", err)
		os.Exit(2)
	}
	if o.chart == "" && o.md != "" {
		o.chart = strings.TrimSuffix(o.md, ".md") + ".svg"
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
	if err := run(t, o); err != nil {
		fmt.Fprintf(os.Stderr, "figures: %v\n", err)
		code = 1
	}
	t.cleanup()
	os.Exit(code)
}

func (o *options) parse(ns string) error {
	for s := range strings.SplitSeq(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1000 || n > maxFlows {
			return fmt.Errorf("-n %q: want numbers from 1000 to %d", s, maxFlows)
		}
		o.counts = append(o.counts, n)
	}
	switch {
	case o.runs < 1:
		return fmt.Errorf("-runs: want at least 1")
	case o.conns < 0 || o.conns > 20000:
		// The client's ephemeral ports, held in TIME_WAIT, bound it.
		return fmt.Errorf("-conns: want 0 to 20000")
	case o.rate < 0:
		return fmt.Errorf("-rate: want 0 (unpaced) or more")
	case o.writers < 1 || o.writers > 64:
		return fmt.Errorf("-writers: want 1 to 64")
	}
	return nil
}

// run measures each count runs times with both daemons, prints the
// table and writes the document.
func run(t *tb, o options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	if o.bin == "" {
		o.bin = buildCTSync(t)
	}
	path, err := exec.LookPath(o.bin)
	if err != nil {
		return fmt.Errorf("-ctsync: %v", err)
	}
	if _, err := exec.LookPath(conntrackdName); err != nil {
		return fmt.Errorf("no %s command (Debian package conntrackd): %v", conntrackdName, err)
	}
	// The lab refuses to build namespaces unless told it may.
	os.Setenv(netnstest.EnvVar, "1")
	if o.gogc != "" {
		// The daemons inherit the environment.
		os.Setenv("GOGC", o.gogc)
	}
	r := report{Date: time.Now().UTC(), Machine: thisMachine(), Versions: versionsOf(path),
		Command: commandLine(os.Args[1:]), Writers: o.writers, Rate: o.rate, Conns: o.conns, Runs: o.runs, Note: o.note}
	if o.md != "" {
		r.Chart = filepath.Base(o.chart)
	}
	// fw1's N and fw2's, and the kernel's limit's N beside them.
	raiseConntrackMax(t, 3*o.counts[len(o.counts)-1]+2*o.conns+262144)
	baseline := slabObjects()
	ld := load{Conns: o.conns, Writers: o.writers, Rate: o.rate}
	for _, n := range o.counts {
		ld.N = n
		var best comparison
		ok := 0
		for i := range o.runs {
			c, err := try(func() comparison { return measureBoth(t, path, ld, baseline, keepIn(o.keep, n, i)) })
			if err != nil {
				// The machine is shared: one failed run (a timeout)
				// should not lose the others.
				fmt.Fprintf(os.Stderr, "N=%d run %d failed: %v\n", n, i+1, err)
				continue
			}
			if ok == 0 {
				best = c
			} else {
				best = best.bestOf(c)
			}
			ok++
		}
		if ok == 0 {
			return fmt.Errorf("every run of %d entries failed", n)
		}
		r.Rows = append(r.Rows, best)
	}
	printSummary(os.Stdout, r)
	if o.md == "" {
		if o.readme != "" {
			return fmt.Errorf("-readme: the summary links to the document: give -md too")
		}
		return nil
	}
	var chart bytes.Buffer
	if err := writeChart(&chart, r.Rows); err != nil {
		return err
	}
	if err := os.WriteFile(o.chart, chart.Bytes(), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	if err := writeMarkdown(&md, r); err != nil {
		return err
	}
	if err := os.WriteFile(o.md, md.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", o.md, o.chart)
	if o.readme == "" {
		return nil
	}
	b, err := os.ReadFile(o.readme)
	if err != nil {
		return err
	}
	s, err := spliceSummary(string(b), r.Summary())
	if err != nil {
		return fmt.Errorf("-readme %s: %v", o.readme, err)
	}
	if err := os.WriteFile(o.readme, []byte(s), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rewrote the benchmarks summary in %s\n", o.readme)
	return nil
}

// measureBoth is one run at ld.N: the kernel's limit into an empty
// table, then ctsync's lab, then conntrackd's, each once the kernel has
// freed the entries of what ran before.
func measureBoth(t *tb, bin string, ld load, baseline int, keep string) comparison {
	c := comparison{N: ld.N, Conns: ld.Conns, Runs: 1}
	waitSlab(baseline)
	c.KernelEmpty = kernelLimit(t, t, ld.N, false, baseline)
	waitSlab(baseline)
	c.CTSync, c.Kernel = measure(t, ctsyncName, bin, ld, baseline, true, keep)
	fmt.Fprintf(os.Stderr, "N=%d: %s\n", ld.N, c.CTSync)
	fmt.Fprintf(os.Stderr, "N=%d: kernel's limit %v into an empty table, %v beside fw1's N, %v with a listener\n",
		ld.N, c.KernelEmpty.Round(time.Millisecond), c.Kernel.Insert.Round(time.Millisecond), c.Kernel.Listened.Round(time.Millisecond))
	waitSlab(baseline)
	c.Legacy, _ = measure(t, conntrackdName, bin, ld, baseline, false, keep)
	fmt.Fprintf(os.Stderr, "N=%d: %s\n", ld.N, c.Legacy)
	return c
}

// buildCTSync builds ./cmd/ctsync into a directory removed when the
// command ends.
func buildCTSync(t *tb) string {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ctsync")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/ctsync/ctsync/cmd/ctsync")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build ./cmd/ctsync (run the command in the repository, or give -ctsync): %v", err)
	}
	return bin
}

// commandLine is the command a reader runs to produce the document
// again.
func commandLine(args []string) string {
	parts := []string{"sudo", "go", "run", "./internal/figures"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// thisMachine describes the machine from /proc and uname(2).
func thisMachine() machine {
	m := machine{CPU: "an unknown CPU", Cores: runtime.NumCPU(), RAM: "an unknown amount", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						m.RAM = fmt.Sprintf("%.0f GiB", kb/(1<<20))
					}
				}
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// versionsOf asks each daemon for its version.
func versionsOf(bin string) versions {
	v := versions{CTSync: "(unknown version)", Conntrackd: "conntrackd (unknown version)", Go: runtime.Version()}
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v.CTSync = strings.TrimPrefix(strings.TrimPrefix(line, "ctsync "), "version ")
	}
	if out, err := exec.Command(conntrackdName, "-v").Output(); err == nil {
		for f := range strings.FieldsSeq(string(out)) {
			if strings.HasPrefix(f, "v1.") {
				v.Conntrackd = "conntrackd " + strings.TrimSuffix(f, ".")
				break
			}
		}
	}
	return v
}

// try runs f and turns a failure (tb's Fatalf) into an error.
func try[T any](f func() T) (r T, err error) {
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

const conntrackMax = "/proc/sys/net/netfilter/nf_conntrack_max"

// raiseConntrackMax makes every namespace's table take at least n
// entries (the limit is the initial namespace's, for all of them) until
// t's cleanups put the old value back.
func raiseConntrackMax(t *tb, n int) {
	// A test that lowers the limit (netnstest.LowerConntrackMax) must not
	// do so under us, nor we raise it under it.
	netnstest.ShareConntrackMax(t)
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
