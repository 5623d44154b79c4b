package syncmode_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/syncmode"
)

// BenchmarkBulkSend is a bulk send (`ctsync bulk`, or the answer to a
// peer's RESYNC) of a million cached flows under FT-FW: every flow
// queued, then one transmission encoding them into datagrams, per
// operation, from a fresh session as after a peer's restart. The lab's
// figures (internal/figures) found the daemon spending about 8 µs per
// flow on it; this isolates the mode's share.
func BenchmarkBulkSend(b *testing.B) {
	const flows = 1_000_000
	for b.Loop() {
		b.StopTimer()
		out := &direct{now: new(time.Time)}
		n := newNode(b, "a", nodeOpts{kind: syncmode.FTFW, seed: 1, senders: []syncmode.Sender{out}})
		for i := range flows {
			f := testFlow(i)
			n.internal.Replace(&f, t0)
		}
		b.StartTimer()
		n.m.BulkSend()
		if err := n.m.Flush(t0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(out.bytes)/flows, "wire-B/flow")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/flows, "ns/flow")
}

// BenchmarkResync is a whole resync of a million flows under FT-FW, both
// nodes in one goroutine over a lossless link: the empty node asks for
// the other's table, which sends it whole in its first transmission (a
// bulk send takes no room in the resend queue), until the asking node's
// external cache holds every flow and the sender holds nothing
// unacknowledged. The fake link then holds every datagram of the table
// until the receiver's turn, where the daemons stream them through the
// socket. The sender flushes after each datagram it
// receives, as the engine's transmitter may. In the daemons the two sides run on two
// cores, so the wall time is nearer the larger of sender-ns/flow and
// receiver-ns/flow than their sum.
func BenchmarkResync(b *testing.B) {
	const flows = 1_000_000
	var sendT, recvT, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		a := newNode(b, "a", nodeOpts{kind: syncmode.FTFW, seed: 1})
		c := newNode(b, "c", nodeOpts{kind: syncmode.FTFW, seed: 2})
		for i := range flows {
			f := testFlow(i)
			a.internal.Replace(&f, t0)
		}
		b.StartTimer()
		cpu0 := processCPU(b)
		c.m.RequestResync()
		now := t0
		for rounds := 0; ; rounds++ {
			start := time.Now()
			if len(a.out[0].q) == 0 {
				// Nothing came: the last ACK waits for the alive
				// timer.
				now = now.Add(time.Second)
				c.m.Tick(now)
			}
			if err := c.m.Flush(now); err != nil {
				b.Fatal(err)
			}
			recvT += time.Since(start)
			start = time.Now()
			// The sender's transmitter wakes for each datagram
			// received (the engine's, at worst).
			for _, d := range c.out[0].take() {
				if err := a.m.Receive(0, d, now); err != nil {
					b.Fatal(err)
				}
				if err := a.m.Flush(now); err != nil {
					b.Fatal(err)
				}
			}
			if err := a.m.Flush(now); err != nil {
				b.Fatal(err)
			}
			sendT += time.Since(start)
			_, resend, _ := a.m.Queued(0)
			if len(a.out[0].q) == 0 && resend == 0 && c.ext.Len() == flows {
				cpu += processCPU(b) - cpu0
				break
			}
			if rounds > flows {
				b.Fatalf("no end after %d rounds: %d flows received, %d unacknowledged", rounds, c.ext.Len(), resend)
			}
			start = time.Now()
			deliver(b, a.out[0], c, 0, now)
			recvT += time.Since(start)
		}
	}
	n := float64(b.N) * flows
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/flow")
	b.ReportMetric(float64(sendT.Nanoseconds())/n, "sender-ns/flow")
	b.ReportMetric(float64(recvT.Nanoseconds())/n, "receiver-ns/flow")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/flow")
}

// processCPU is the CPU time this process has used, user and system,
// the GC's too: on a shared machine the wall time also counts the
// waits for a core, which this does not.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Once a bulk send larger than the resend queue is acknowledged, the mode
// keeps no more objects for reuse than a resend queue's worth: the rest
// are the garbage collector's, not the daemon's memory for good.
func TestBulkReleasesItsObjects(t *testing.T) {
	flows := syncmode.MaxReusable + 20_000
	a, c, links := pair(t, nodeOpts{kind: syncmode.FTFW, seed: 3})
	now := t0
	for i := range flows {
		f := testFlow(i)
		a.internal.Replace(&f, now)
	}
	c.m.RequestResync()
	run(t, &now, now.Add(5*time.Second), 10*time.Millisecond, []*node{a, c}, links)
	if got := c.ext.Len(); got != flows {
		t.Fatalf("c holds %d flows, want %d", got, flows)
	}
	if n := a.m.Reusable(); n > syncmode.MaxReusable {
		t.Errorf("a keeps %d objects for reuse after the bulk, want at most %d", n, syncmode.MaxReusable)
	}
}
