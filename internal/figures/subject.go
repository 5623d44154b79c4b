//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

// The daemons compared, by the names the table gives them.
const (
	ctsyncName     = "ctsync"
	conntrackdName = "conntrackd"
)

// syncDaemon is one of the daemons compared, running on a lab firewall:
// what a run asks of it, whichever it is. Each runs with its own client
// commands, as an operator's script would run them.
type syncDaemon interface {
	pid() int
	// counters are the daemon's own figures now; overruns its count
	// of its event socket's overruns, apart because conntrackd tells it
	// in another command, which would slow every poll of the caches.
	counters(t *tb) counters
	overruns(t *tb) uint64
	// bulk sends the internal cache to the peer (`ctsync bulk`,
	// `conntrackd -B`), resync asks the peer for its whole internal
	// cache and returns once asked (`ctsync resync --no-wait`,
	// `conntrackd -n`: the run then times both alike, until the
	// external cache is full; `ctsync resync` alone would also wait for
	// the peer's acknowledgements, and fail the run after its 2-minute
	// timeout), commit writes the
	// external cache into the kernel (`ctsync commit`, `conntrackd
	// -c`).
	bulk(t *tb)
	resync(t *tb)
	commit(t *tb)
	// acked waits, for at most limit and without failing, until the
	// peer has acknowledged what this daemon sent.
	acked(t *tb, limit time.Duration)
	// restart stops the daemon and starts it again with empty caches.
	restart(t *tb)
	// keep writes the daemon's log and stats to files named name.*.
	keep(name string)
}

// counters are the figures a run reads from a daemon.
type counters struct {
	// Internal and External are the entries in the caches.
	Internal, External uint64
	// Applied counts the sync messages applied to the external cache:
	// every update received, of an entry new to the cache or not.
	Applied uint64
}

// startSyncDaemon starts the daemon named name on fw, syncing with
// peer, configured for n entries.
func startSyncDaemon(t *tb, name, bin string, fw, peer *lab.Node, n int) syncDaemon {
	switch name {
	case ctsyncName:
		return startDaemon(t, bin, fw, peer, n)
	case conntrackdName:
		return startLegacy(t, fw, peer, n)
	}
	t.Fatalf("no daemon named %q", name)
	return nil
}

// The ctsync side: daemon (daemon.go) through `ctsync stats --format
// json` and its client commands.

func (d *daemon) counters(t *tb) counters {
	s := d.stats(t)
	return counters{Internal: s.Caches.Internal.Active, External: s.Caches.External.Active, Applied: s.Sync.Applied}
}

func (d *daemon) overruns(t *tb) uint64 { return d.stats(t).Ingest.Overruns }

func (d *daemon) bulk(t *tb)   { d.mustCtl(t, "bulk") }
func (d *daemon) resync(t *tb) { d.mustCtl(t, "resync", "--no-wait") }
func (d *daemon) commit(t *tb) { d.mustCtl(t, "commit") }

func (d *daemon) acked(t *tb, limit time.Duration) {
	sent := d.stats(t).Sync.Datagrams
	deadline := time.Now().Add(limit)
	for !bulkAcknowledged(d.stats(t), sent) {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "%s: ctsync's resend queue still holds unacknowledged updates after %v; going on\n", d.fw.Role, limit)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) restart(t *tb) {
	d.stop(t)
	d.start(t)
}
