//go:build linux

package main

import (
	_ "embed"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
)

// report is everything docs/benchmarks.md says: the figures of one
// invocation, where and how they were measured.
type report struct {
	Date     time.Time
	Machine  machine
	Versions versions
	// Command is the exact command that produced the document.
	Command string
	// Load and Runs are the invocation's.
	Writers, Rate, Conns, Runs int
	// Note is the operator's remark on the run (-note), if any.
	Note string
	// Chart is the chart's file name, relative to the document.
	Chart string
	Rows  []comparison
}

// machine says where the figures were measured.
type machine struct {
	CPU    string
	Cores  int
	RAM    string
	Kernel string
}

type versions struct{ CTSync, Conntrackd, Go string }

// verdict is one target at one N, evaluated on the run's figures.
type verdict struct {
	Key  string // names the target for the document's explanations
	N    int
	What string
	Goal string // the target, in figures
	Got  string // ctsync's figure, and what it is compared with
	Met  bool
}

// targets evaluates issue 10's targets on c: ctsync at most a third of
// conntrackd's CPU per event on each side and half its memory per entry;
// commit and resync at least twice as fast; the commit within 1.5× of
// the kernel's limit for batched inserts in the same conditions.
func targets(c comparison) []verdict {
	ct, lg := c.CTSync, c.Legacy
	ratio := func(key, what string, got, legacy float64, most float64, unit func(float64) string, goal string) verdict {
		return verdict{Key: key, N: c.N, What: what, Goal: fmt.Sprintf("%s (%s)", goal, unit(legacy*most)),
			Got: fmt.Sprintf("%s, %.2f× conntrackd's %s", unit(got), safeDiv(got, legacy), unit(legacy)),
			Met: got <= legacy*most}
	}
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", v/1e3) }
	b := func(v float64) string { return fmt.Sprintf("%.0f B", v) }
	s := func(v float64) string { return secs(time.Duration(v)) }
	limit := float64(c.Kernel.Insert)
	return []verdict{
		ratio("cpu-sender", "daemon CPU per event, sender", float64(ct.CPUSender), float64(lg.CPUSender), 1.0/3, us, "≤ 1/3 of conntrackd's"),
		ratio("cpu-receiver", "daemon CPU per event, receiver", float64(ct.CPUReceiver), float64(lg.CPUReceiver), 1.0/3, us, "≤ 1/3 of conntrackd's"),
		ratio("mem-sender", "memory per cached entry, sender", ct.RSSSender, lg.RSSSender, 0.5, b, "≤ 1/2 of conntrackd's"),
		ratio("mem-receiver", "memory per cached entry, receiver", ct.RSSReceiver, lg.RSSReceiver, 0.5, b, "≤ 1/2 of conntrackd's"),
		ratio("commit", "commit of N into the kernel", float64(ct.Commit), float64(lg.Commit), 0.5, s, "≥ 2× as fast as conntrackd"),
		ratio("resync", "full resync of N", float64(ct.Resync), float64(lg.Resync), 0.5, s, "≥ 2× as fast as conntrackd"),
		{Key: "commit-kernel", N: c.N, What: "commit of N against the kernel's batched-insert limit",
			Goal: fmt.Sprintf("≤ 1.5× the kernel's %s (%s)", s(limit), s(1.5*limit)),
			Got:  fmt.Sprintf("%s, %.2f× the kernel's", s(float64(ct.Commit)), safeDiv(float64(ct.Commit), limit)),
			Met:  float64(ct.Commit) <= 1.5*limit},
	}
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Verdicts are the targets at every N.
func (r report) Verdicts() []verdict {
	var vs []verdict
	for _, c := range r.Rows {
		vs = append(vs, targets(c)...)
	}
	return vs
}

// Missed says whether the target named key was missed at some N.
func (r report) Missed(key string) bool {
	for _, v := range r.Verdicts() {
		if v.Key == key && !v.Met {
			return true
		}
	}
	return false
}

// KernelBound lists the Ns at which the kernel's own limit is above half
// of conntrackd's commit: there, a commit twice as fast as conntrackd's
// would have to go well ahead of the kernel's pace for one writer (the
// limit is a reference, not a hard bound: a commit can come out below
// it).
func (r report) KernelBound() []comparison {
	var out []comparison
	for _, c := range r.Rows {
		if c.Kernel.Insert > c.Legacy.Commit/2 {
			out = append(out, c)
		}
	}
	return out
}

// Table is the Markdown table of the figures: for each N, conntrackd's,
// ctsync's and their ratio.
func (r report) Table() string {
	var w strings.Builder
	w.WriteString("| figure |")
	for _, c := range r.Rows {
		fmt.Fprintf(&w, " conntrackd, %s | ctsync, %s | ctsync / conntrackd |", entries(c.N), entries(c.N))
	}
	w.WriteString("\n|---|")
	for range r.Rows {
		w.WriteString("--:|--:|--:|")
	}
	w.WriteString("\n")
	type cell struct {
		legacy, ctsync string
		ratio          float64 // 0: no ratio
	}
	row := func(name string, f func(c comparison) cell) {
		fmt.Fprintf(&w, "| %s |", name)
		for _, c := range r.Rows {
			x := f(c)
			q := "—"
			if x.ratio > 0 {
				q = fmt.Sprintf("%.2f×", x.ratio)
			}
			fmt.Fprintf(&w, " %s | %s | %s |", x.legacy, x.ctsync, q)
		}
		w.WriteString("\n")
	}
	dur := func(name string, get func(figures) time.Duration, unit func(time.Duration) string) {
		row(name, func(c comparison) cell {
			a, b := get(c.Legacy), get(c.CTSync)
			return cell{unit(a), unit(b), safeDiv(float64(b), float64(a))}
		})
	}
	num := func(name string, get func(figures) float64, format string) {
		row(name, func(c comparison) cell {
			a, b := get(c.Legacy), get(c.CTSync)
			return cell{fmt.Sprintf(format, a), fmt.Sprintf(format, b), safeDiv(b, a)}
		})
	}
	same := func(name string, get func(comparison) string) {
		row(name, func(c comparison) cell { v := get(c); return cell{v, v, 0} })
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
	row("events counted in fw1 during the replication", func(c comparison) cell {
		return cell{fmt.Sprint(c.Legacy.Events), fmt.Sprint(c.CTSync.Events), 0}
	})
	row("paced load: rate of the N creates in fw1", func(c comparison) cell {
		return cell{perSec(c.N, c.Legacy.Fill), perSec(c.N, c.CTSync.Fill), 0}
	})
	dur("daemon CPU per event, sender (fw1)", func(f figures) time.Duration { return f.CPUSender }, us)
	dur("daemon CPU per event, receiver (fw2)", func(f figures) time.Duration { return f.CPUReceiver }, us)
	num("RSS growth per cached entry, sender", func(f figures) float64 { return f.RSSSender }, "%.0f B")
	num("RSS growth per cached entry, receiver", func(f figures) float64 { return f.RSSReceiver }, "%.0f B")
	num("RSS at the end, sender", func(f figures) float64 { return f.RSSSenderMB }, "%.0f MiB")
	num("RSS at the end, receiver", func(f figures) float64 { return f.RSSReceiverMB }, "%.0f MiB")
	num("bytes on the wire per update", func(f figures) float64 { return f.BytesPerUpdate }, "%.1f B")
	num("datagrams on the wire per update", func(f figures) float64 { return f.DatagramsPerUpdate }, "%.3f")
	row("burst: rate of N creates in fw1 from several writers", func(c comparison) cell {
		return cell{perSec(c.N, c.Legacy.Burst), perSec(c.N, c.CTSync.Burst), 0}
	})
	row("event socket overruns, sender's own count: paced load / burst, worst run", func(c comparison) cell {
		return cell{fmt.Sprintf("%d / %d", c.Legacy.LoadOverruns, c.Legacy.Overruns), fmt.Sprintf("%d / %d", c.CTSync.LoadOverruns, c.CTSync.Overruns), 0}
	})
	row("entries missing at the peer, before any overrun resync: paced load / burst, worst run", func(c comparison) cell {
		return cell{fmt.Sprintf("%d / %d", c.Legacy.LoadMissing, c.Legacy.Missing), fmt.Sprintf("%d / %d", c.CTSync.LoadMissing, c.CTSync.Missing), 0}
	})
	dur("bulk send, wall", func(f figures) time.Duration { return f.Bulk }, secs)
	dur("full resync of a restarted fw2, wall", func(f figures) time.Duration { return f.Resync }, secs)
	dur("commit into fw2's kernel, wall", func(f figures) time.Duration { return f.Commit }, secs)
	same("kernel's limit: N batched creates while fw1 holds its N", func(c comparison) string {
		return fmt.Sprintf("%s (%s)", secs(c.Kernel.Insert), perSec(c.N, c.Kernel.Insert))
	})
	same("the same with an event listener", func(c comparison) string {
		return fmt.Sprintf("%s (%s)", secs(c.Kernel.Listened), perSec(c.N, c.Kernel.Listened))
	})
	same("the same into an otherwise empty table", func(c comparison) string {
		return fmt.Sprintf("%s (%s)", secs(c.KernelEmpty), perSec(c.N, c.KernelEmpty))
	})
	row("commit / kernel's limit while fw1 holds its N", func(c comparison) cell {
		return cell{fmt.Sprintf("%.2f×", safeDiv(float64(c.Legacy.Commit), float64(c.Kernel.Insert))),
			fmt.Sprintf("%.2f×", safeDiv(float64(c.CTSync.Commit), float64(c.Kernel.Insert))), 0}
	})
	return w.String()
}

// TargetTable is the Markdown table of the verdicts.
func (r report) TargetTable() string {
	var w strings.Builder
	w.WriteString("| target | N | goal | ctsync | met? |\n|---|--:|---|---|---|\n")
	for _, v := range r.Verdicts() {
		met := "met"
		if !v.Met {
			met = "**missed**"
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s |\n", v.What, entries(v.N), v.Goal, v.Got, met)
	}
	return w.String()
}

// entries writes an entry count the way the document names it: 100k, 1M.
func entries(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// secs writes a wall time with three significant digits or so, in the
// unit a reader compares best: 8.4 ms, 120 ms, 1.24 s.
func secs(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// perSec writes n per d as a rate: 950/s, 121k/s.
func perSec(n int, d time.Duration) string {
	r := rate(n, d)
	if r >= 10000 {
		return fmt.Sprintf("%.0fk/s", r/1000)
	}
	return fmt.Sprintf("%.0f/s", r)
}

//go:embed benchmarks.md.tmpl
var docTemplate string

var doc = template.Must(template.New("benchmarks.md").Funcs(template.FuncMap{
	"entries": entries,
	"secs":    secs,
	"half":    func(d time.Duration) time.Duration { return d / 2 },
}).Parse(docTemplate))

// writeMarkdown writes the document for r.
func writeMarkdown(w io.Writer, r report) error {
	return doc.Execute(w, r)
}

// printSummary writes the table and the verdicts for a terminal.
func printSummary(w io.Writer, r report) {
	fmt.Fprint(w, r.Table())
	fmt.Fprintln(w)
	for _, v := range r.Verdicts() {
		met := "met"
		if !v.Met {
			met = "MISSED"
		}
		fmt.Fprintf(w, "%-6s N=%s %s: %s; goal %s\n", met, entries(v.N), v.What, v.Got, v.Goal)
	}
}

// The README's summary sits between these markers, which the command
// rewrites with -readme, so that the README never disagrees with
// docs/benchmarks.md.
const (
	summaryBegin = "<!-- benchmarks summary: written by internal/figures -readme -->"
	summaryEnd   = "<!-- end of benchmarks summary -->"
)

// Summary is the short side-by-side table the README shows: each
// figure a target is about, at every N, with the verdict.
func (r report) Summary() string {
	var w strings.Builder
	ns := make([]string, len(r.Rows))
	for i, c := range r.Rows {
		ns[i] = entries(c.N)
	}
	if r.Note != "" {
		fmt.Fprintf(&w, "**Note:** %s\n\n", r.Note)
	}
	fmt.Fprintf(&w, "Measured on %s (%d cores, %s of RAM, Linux %s), best of %d run(s), N = %s:\n\n",
		r.Date.Format("2006-01-02"), r.Machine.Cores, r.Machine.RAM, r.Machine.Kernel, r.Runs, strings.Join(ns, " / "))
	w.WriteString("| figure | conntrackd 1.4.7 | ctsync | target | met? |\n|---|--:|--:|---|---|\n")
	row := func(what, key, goal string, f func(c comparison) (legacy, ctsync string)) {
		var ls, cs, met []string
		for _, c := range r.Rows {
			l, x := f(c)
			ls, cs = append(ls, l), append(cs, x)
			for _, v := range targets(c) {
				if v.Key == key {
					met = append(met, map[bool]string{true: "yes", false: "**no**"}[v.Met])
				}
			}
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s |\n", what, strings.Join(ls, " / "), strings.Join(cs, " / "), goal, strings.Join(met, " / "))
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
	row("daemon CPU per event, sender", "cpu-sender", "≤ 1/3", func(c comparison) (string, string) {
		return us(c.Legacy.CPUSender), us(c.CTSync.CPUSender)
	})
	row("daemon CPU per event, receiver", "cpu-receiver", "≤ 1/3", func(c comparison) (string, string) {
		return us(c.Legacy.CPUReceiver), us(c.CTSync.CPUReceiver)
	})
	row("memory per cached entry, sender", "mem-sender", "≤ 1/2", func(c comparison) (string, string) {
		return fmt.Sprintf("%.0f B", c.Legacy.RSSSender), fmt.Sprintf("%.0f B", c.CTSync.RSSSender)
	})
	row("memory per cached entry, receiver", "mem-receiver", "≤ 1/2", func(c comparison) (string, string) {
		return fmt.Sprintf("%.0f B", c.Legacy.RSSReceiver), fmt.Sprintf("%.0f B", c.CTSync.RSSReceiver)
	})
	row("full resync of N, wall", "resync", "≥ 2× as fast", func(c comparison) (string, string) {
		return secs(c.Legacy.Resync), secs(c.CTSync.Resync)
	})
	row("commit of N into the kernel, wall", "commit", "≥ 2× as fast", func(c comparison) (string, string) {
		return secs(c.Legacy.Commit), secs(c.CTSync.Commit)
	})
	row("commit / the kernel's batched-insert limit", "commit-kernel", "≤ 1.5×", func(c comparison) (string, string) {
		return fmt.Sprintf("%.2f×", safeDiv(float64(c.Legacy.Commit), float64(c.Kernel.Insert))),
			fmt.Sprintf("%.2f×", safeDiv(float64(c.CTSync.Commit), float64(c.Kernel.Insert)))
	})
	return w.String()
}

// spliceSummary replaces what lies between the summary markers in doc
// with summary.
func spliceSummary(doc, summary string) (string, error) {
	i := strings.Index(doc, summaryBegin)
	j := strings.Index(doc, summaryEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q line followed by a %q line", summaryBegin, summaryEnd)
	}
	return doc[:i+len(summaryBegin)] + "\n" + summary + doc[j:], nil
}
