//go:build linux

package main

import (
	"fmt"
	"time"
)

// figures is what one run measured of one daemon at N entries.
type figures struct {
	Daemon   string
	N, Conns int
	// Events is how many conntrack events the independent listener in
	// fw1 counted while the entries were created and replicated: the
	// denominator of the per-event figures, the same for both daemons.
	// ListenerOverruns says how often the kernel dropped events for the
	// listener itself (then Events is short).
	Events, ListenerOverruns uint64
	// Fill: the N creates in fw1 through ctnetlink, paced.
	// Replicated: from their start until fw2's external cache held N
	// plus the connections (or stopped growing).
	Fill, Replicated time.Duration
	// CPU (user+sys) per event, of fw1's daemon and of fw2's.
	CPUSender, CPUReceiver time.Duration
	// RSS growth over the replication per entry cached (fw1's internal
	// cache, fw2's external one), in bytes, and RSS at its end, in MiB.
	RSSSender, RSSReceiver     float64
	RSSSenderMB, RSSReceiverMB float64
	// Cached is what fw1's internal and fw2's external caches held at
	// the end of the replication.
	Cached [2]uint64
	// What fw1's sync interface sent during the replication, per event.
	BytesPerUpdate, DatagramsPerUpdate float64
	// Overruns of fw1's event socket during the paced load, as the
	// daemon counts them, and how many entries fw2's external cache
	// lacked at its end, before any overrun resync.
	LoadOverruns, LoadMissing uint64
	// Burst: N more creates in a fresh lab, from several writers as
	// fast as the kernel takes them; the overruns of fw1's event socket
	// then, and the entries fw2 lacked once its cache stopped growing.
	Burst             time.Duration
	Overruns, Missing uint64
	// Wall times of a bulk send, a full resync of a restarted fw2, and
	// a commit into fw2's kernel.
	Bulk, Resync, Commit time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("%s: %d events (listener overruns %d), fill %v (%.0f/s), replicated after %v; CPU/event sender %v receiver %v; "+
		"RSS/entry sender %.0f B receiver %.0f B (%.0f / %.0f MiB; cached %d / %d); wire %.1f B, %.3f datagrams per update; "+
		"paced load overruns %d, missing %d; burst %v (%.0f/s) overruns %d, missing %d; bulk %v, resync %v, commit %v (%.0f/s)",
		f.Daemon, f.Events, f.ListenerOverruns, f.Fill.Round(time.Millisecond), rate(f.N, f.Fill), f.Replicated.Round(time.Millisecond),
		f.CPUSender, f.CPUReceiver, f.RSSSender, f.RSSReceiver, f.RSSSenderMB, f.RSSReceiverMB, f.Cached[0], f.Cached[1],
		f.BytesPerUpdate, f.DatagramsPerUpdate, f.LoadOverruns, f.LoadMissing,
		f.Burst.Round(time.Millisecond), rate(f.N, f.Burst), f.Overruns, f.Missing,
		f.Bulk.Round(time.Millisecond), f.Resync.Round(time.Millisecond), f.Commit.Round(time.Millisecond), rate(f.N, f.Commit))
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// best keeps, figure by figure, the better of f and o: the shorter time,
// the less CPU and memory, the fewer bytes; but the worst of the losses,
// which a reader must not miss. Events, the denominator, is the run's
// with the least sender CPU per event.
func (f figures) best(o figures) figures {
	if o.CPUSender < f.CPUSender {
		f.Events = o.Events
	}
	f.ListenerOverruns = max(f.ListenerOverruns, o.ListenerOverruns)
	f.Fill = min(f.Fill, o.Fill)
	f.Replicated = min(f.Replicated, o.Replicated)
	f.CPUSender = min(f.CPUSender, o.CPUSender)
	f.CPUReceiver = min(f.CPUReceiver, o.CPUReceiver)
	f.RSSSender = min(f.RSSSender, o.RSSSender)
	f.RSSReceiver = min(f.RSSReceiver, o.RSSReceiver)
	f.RSSSenderMB = min(f.RSSSenderMB, o.RSSSenderMB)
	f.RSSReceiverMB = min(f.RSSReceiverMB, o.RSSReceiverMB)
	f.BytesPerUpdate = min(f.BytesPerUpdate, o.BytesPerUpdate)
	f.DatagramsPerUpdate = min(f.DatagramsPerUpdate, o.DatagramsPerUpdate)
	f.LoadOverruns = max(f.LoadOverruns, o.LoadOverruns)
	f.LoadMissing = max(f.LoadMissing, o.LoadMissing)
	f.Burst = min(f.Burst, o.Burst)
	f.Overruns = max(f.Overruns, o.Overruns)
	f.Missing = max(f.Missing, o.Missing)
	f.Bulk = min(f.Bulk, o.Bulk)
	f.Resync = min(f.Resync, o.Resync)
	f.Commit = min(f.Commit, o.Commit)
	return f
}

// comparison is the best of the runs at N of both daemons, and the
// kernel's limits measured in the same runs.
type comparison struct {
	N, Conns, Runs int
	// KernelEmpty: N creates into a namespace of their own, the
	// kernel's table otherwise empty; Kernel: the same while fw1 holds
	// its N, as during the commit, without and with a listener.
	KernelEmpty time.Duration
	Kernel      kernelLimits
	CTSync      figures
	Legacy      figures
}

// bestOf merges the runs at one N: the best of each figure.
func (c comparison) bestOf(o comparison) comparison {
	c.Runs += o.Runs
	c.KernelEmpty = min(c.KernelEmpty, o.KernelEmpty)
	c.Kernel.Insert = min(c.Kernel.Insert, o.Kernel.Insert)
	c.Kernel.Listened = min(c.Kernel.Listened, o.Kernel.Listened)
	c.CTSync = c.CTSync.best(o.CTSync)
	c.Legacy = c.Legacy.best(o.Legacy)
	return c
}
