//go:build linux

package main

import (
	"fmt"
	"io"
	"time"
)

// result is what one run measured at N flows.
type result struct {
	N int
	// Runs is how many runs the best of them was taken from.
	Runs int
	// KernelInsertEmpty: N creates into a namespace of their own, the
	// kernel's own limit, with no other entry in the kernel's table;
	// KernelInsert the same while fw1 holds its N, as during the commit;
	// KernelInsertListened that with an event listener that drops the
	// events. Fill: the N creates into fw1, whose daemon listens.
	KernelInsertEmpty, KernelInsert, KernelInsertListened, Fill time.Duration
	// Replicated: from the first create in fw1 until fw2's external
	// cache holds N.
	Replicated time.Duration
	// CPU per replicated event, user+sys.
	CPUSender, CPUReceiver time.Duration
	// RSS growth per cached entry, in bytes, and RSS at the end, in MiB.
	RSSSender, RSSReceiver     float64
	RSSSenderMB, RSSReceiverMB float64
	// Overruns of fw1's event socket and the resyncs that repaired
	// them, while replicating: each resync sends every flow again, so
	// the CPU and wire figures then count more than one send per flow.
	Overruns, Resyncs uint64
	// On fw1's sync link, per replicated update.
	BytesPerUpdate, DatagramsPerUpdate, MessagesPerDatagram float64
	// Wall times of a bulk send, a full resync and a commit of N, and
	// the CPU fw1's and fw2's daemons spent on each.
	Bulk, Resync, Commit          time.Duration
	BulkCPU, ResyncCPU, CommitCPU [2]time.Duration
	// CommitSys is the system part of fw2's CPU for the commit: the
	// kernel's inserts, made in the daemon's sendmsg.
	CommitSys time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("kernel insert into an empty table %v, beside fw1's %v (%.0f/s), with a listener %v, fill %v, replicated after %v; CPU/event sender %v receiver %v; "+
		"RSS/entry sender %.0f B receiver %.0f B (%.0f / %.0f MiB); wire %.1f B, %.3f datagrams per update, %.2f messages per datagram; "+
		"bulk %v (CPU %v), resync %v (CPU %v), commit %v (%.0f/s, CPU %v, fw2 sys %v); fw1 event socket overruns %d, resyncs %d",
		r.KernelInsertEmpty.Round(time.Millisecond), r.KernelInsert.Round(time.Millisecond), rate(r.N, r.KernelInsert), r.KernelInsertListened.Round(time.Millisecond), r.Fill.Round(time.Millisecond), r.Replicated.Round(time.Millisecond),
		r.CPUSender, r.CPUReceiver, r.RSSSender, r.RSSReceiver, r.RSSSenderMB, r.RSSReceiverMB,
		r.BytesPerUpdate, r.DatagramsPerUpdate, r.MessagesPerDatagram,
		r.Bulk.Round(time.Millisecond), r.BulkCPU, r.Resync.Round(time.Millisecond), r.ResyncCPU,
		r.Commit.Round(time.Millisecond), rate(r.N, r.Commit), r.CommitCPU, r.CommitSys, r.Overruns, r.Resyncs)
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// best keeps, figure by figure, the better of r and o: the shorter time,
// the less CPU and memory, the fewer bytes. The kernel's limit is its
// best too, so the commit is compared with the fastest the kernel went.
func (r result) best(o result) result {
	dmin := func(a, b time.Duration) time.Duration { return min(a, b) }
	r.KernelInsertEmpty = dmin(r.KernelInsertEmpty, o.KernelInsertEmpty)
	r.KernelInsert = dmin(r.KernelInsert, o.KernelInsert)
	r.KernelInsertListened = dmin(r.KernelInsertListened, o.KernelInsertListened)
	r.Fill = dmin(r.Fill, o.Fill)
	r.Replicated = dmin(r.Replicated, o.Replicated)
	r.CPUSender = dmin(r.CPUSender, o.CPUSender)
	r.CPUReceiver = dmin(r.CPUReceiver, o.CPUReceiver)
	r.RSSSender = min(r.RSSSender, o.RSSSender)
	r.RSSReceiver = min(r.RSSReceiver, o.RSSReceiver)
	r.RSSSenderMB = min(r.RSSSenderMB, o.RSSSenderMB)
	r.RSSReceiverMB = min(r.RSSReceiverMB, o.RSSReceiverMB)
	r.BytesPerUpdate = min(r.BytesPerUpdate, o.BytesPerUpdate)
	r.DatagramsPerUpdate = min(r.DatagramsPerUpdate, o.DatagramsPerUpdate)
	r.MessagesPerDatagram = max(r.MessagesPerDatagram, o.MessagesPerDatagram)
	r.Bulk = dmin(r.Bulk, o.Bulk)
	r.Resync = dmin(r.Resync, o.Resync)
	r.Commit = dmin(r.Commit, o.Commit)
	r.Overruns = max(r.Overruns, o.Overruns)
	r.Resyncs = max(r.Resyncs, o.Resyncs)
	return r
}

// printTable writes the best results as a Markdown table, one column per
// N.
func printTable(w io.Writer, rs []result) {
	fmt.Fprint(w, "| figure |")
	for _, r := range rs {
		fmt.Fprintf(w, " N = %d (best of %d) |", r.N, r.Runs)
	}
	fmt.Fprint(w, "\n|---|")
	for range rs {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	row := func(name string, f func(r result) string) {
		fmt.Fprintf(w, "| %s |", name)
		for _, r := range rs {
			fmt.Fprintf(w, " %s |", f(r))
		}
		fmt.Fprintln(w)
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	row("daemon CPU per replicated event, sender (fw1)", func(r result) string { return us(r.CPUSender) })
	row("daemon CPU per replicated event, receiver (fw2)", func(r result) string { return us(r.CPUReceiver) })
	row("RSS growth per cached entry, sender / receiver", func(r result) string {
		return fmt.Sprintf("%.0f / %.0f B", r.RSSSender, r.RSSReceiver)
	})
	row("RSS sender / receiver", func(r result) string {
		return fmt.Sprintf("%.0f / %.0f MiB", r.RSSSenderMB, r.RSSReceiverMB)
	})
	row("creation in fw1 through ctnetlink; replicated after", func(r result) string {
		return fmt.Sprintf("%s (%.0f/s); %s", secs(r.Fill), rate(r.N, r.Fill), secs(r.Replicated))
	})
	row("wire per update: bytes, datagrams; messages per datagram", func(r result) string {
		return fmt.Sprintf("%.1f B, %.3f; %.2f", r.BytesPerUpdate, r.DatagramsPerUpdate, r.MessagesPerDatagram)
	})
	row("bulk send (`ctsync bulk` on fw1), wall", func(r result) string { return secs(r.Bulk) })
	row("full resync of a restarted fw2 (`ctsync resync`), wall", func(r result) string { return secs(r.Resync) })
	row("commit into fw2's kernel (`ctsync commit`), wall until `conntrack -C` shows N", func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.Commit), rate(r.N, r.Commit))
	})
	row("kernel's own limit: N batched ctnetlink creates into a namespace of their own, the kernel's table otherwise empty", func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.KernelInsertEmpty), rate(r.N, r.KernelInsertEmpty))
	})
	row("the same while fw1's N are in the kernel's table (one table for all namespaces), as during the commit", func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.KernelInsert), rate(r.N, r.KernelInsert))
	})
	row("the same with an event listener that drops the events", func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.KernelInsertListened), rate(r.N, r.KernelInsertListened))
	})
	row("commit / kernel limit beside fw1's N, without / with a listener", func(r result) string {
		return fmt.Sprintf("%.2f× / %.2f×", r.Commit.Seconds()/r.KernelInsert.Seconds(), r.Commit.Seconds()/r.KernelInsertListened.Seconds())
	})
	row("fw1 event socket overruns / resyncs, worst run", func(r result) string {
		return fmt.Sprintf("%d / %d", r.Overruns, r.Resyncs)
	})
}
