package engine

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/wire"
	"github.com/ctsync/ctsync/migrate"
)

// The daemon's hot path without the kernel and the sockets, per event:
// what the design target "CPU per replicated event" is made of besides
// the system calls. internal/figures measures the whole daemons in the
// lab; these say where the time goes, with allocations.

// capturePeer is a Peer that keeps what the engine sends, in memory it
// reuses once the datagrams are taken, so that it allocates nothing the
// benchmarks would count against the engine.
type capturePeer struct {
	arena     []byte
	datagrams [][]byte
	bytes     int
}

func (p *capturePeer) Send(b []byte) error {
	p.bytes += len(b)
	start := len(p.arena)
	p.arena = append(p.arena, b...)
	p.datagrams = append(p.datagrams, p.arena[start:len(p.arena):len(p.arena)])
	return nil
}
func (p *capturePeer) Recv([]byte) (int, int, error) { select {} }
func (p *capturePeer) Valid(int)                     {}
func (p *capturePeer) Malformed(int)                 {}
func (p *capturePeer) MaxDatagram() int              { return 1472 }
func (p *capturePeer) Status() []link.LinkStatus     { return nil }
func (p *capturePeer) Close() error                  { return nil }

// take returns the datagrams sent since the last take, valid until the
// next Send.
func (p *capturePeer) take() [][]byte {
	d := p.datagrams
	p.datagrams, p.arena = p.datagrams[:0], p.arena[:0]
	return d
}

// nullWriter is a KernelWriter that writes nothing.
type nullWriter struct{ port uint32 }

func (w nullWriter) Apply(reqs []ctnl.Request, errs []error) error {
	clear(errs)
	return nil
}
func (w nullWriter) PortID() uint32 { return w.port }

// benchEngine is an engine with fake I/O, as the daemon composes it for
// FT-FW with both caches, and a filter like the lab's.
func benchEngine(b *testing.B) (*Engine, *capturePeer, *fakeClock) {
	b.Helper()
	l := migrate.Load("bench.hcl", []byte(`
filter {
  stage "address" {
    ignore = ["127.0.0.1", "::1", "198.51.100.128/25"]
  }
}
sync "ftfw" {}
link "sync" {
  transport = "udp"
  interface = "sync0"
  local     = "198.51.100.129"
  peer      = "198.51.100.130"
  port      = 3780
}
`), migrate.LoadOptions{Syntax: config.SyntaxHCL})
	if l.Diags.HasErrors() {
		b.Fatal(l.Diags)
	}
	peer, clock := &capturePeer{}, newFakeClock()
	e, err := New(l.Runtime, IO{Clock: clock, Events: newFakeSource(), Table: newFakeTable(), Commit: nullWriter{port: 7}, Peer: peer}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return e, peer, clock
}

// benchEvents are n established TCP flows' events of type typ, distinct.
func benchEvents(n int, typ ctnl.EventType) []ctnl.Event {
	evs := make([]ctnl.Event, n)
	for i := range evs {
		o := ctnl.Tuple{Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), Dst: netip.AddrFrom4([4]byte{198, 19, 255, 254}),
			Proto: 6, SrcPort: 10000, DstPort: 80}
		f := ctnl.Flow{Orig: o, Reply: o.Invert(), Timeout: 3600,
			Status: ctnl.StatusConfirmed | ctnl.StatusSeenReply | ctnl.StatusAssured}
		f.Present |= ctnl.HasProtoInfo
		f.TCP.State = 3
		evs[i] = ctnl.Event{Type: typ, Flow: f}
	}
	return evs
}

// flush is the transmitter's turn (Engine.transmit): timers, then one
// send of what is queued.
func (e *Engine) benchFlush(b *testing.B, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.mode.NextTimer(); !t.IsZero() && !now.Before(t) {
		e.mode.Tick(now)
	}
	if err := e.mode.Flush(now); err != nil {
		b.Fatal(err)
	}
}

// deliver hands datagrams to e as its receiver does.
func (e *Engine) benchDeliver(b *testing.B, ds [][]byte, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range ds {
		if err := e.mode.Receive(0, d, now); err != nil {
			b.Fatal(err)
		}
	}
}

const hotFlows = 4096

// BenchmarkIngestToWire is the sender's share per event: a kernel event
// through the input stage (origin check, filter, conversion into the
// internal cache) and FT-FW to an encoded datagram. NEW events are what
// a burst of new flows makes (the figures' fill), UPDATE events what
// established flows make. batch is how many events the transmitter
// finds queued per turn: 1 on an idle link, tens under a burst (the lab
// sees about 17 messages per datagram). Outside the timer, the peer
// acknowledges every 1024 events, so the resend queue stays bounded as
// on a healthy link.
func BenchmarkIngestToWire(b *testing.B) {
	for _, c := range []struct {
		name  string
		typ   ctnl.EventType
		batch int
	}{{"new/batch=16", ctnl.EventNew, 16}, {"update/batch=1", ctnl.EventUpdate, 1}, {"update/batch=16", ctnl.EventUpdate, 16}} {
		b.Run(c.name, func(b *testing.B) {
			batch := c.batch
			a, ap, clock := benchEngine(b)
			r, rp, _ := benchEngine(b)
			evs := benchEvents(hotFlows, c.typ)
			now := clock.Now()
			ack := func() {
				now = now.Add(time.Second)
				r.benchDeliver(b, ap.take(), now)
				r.benchFlush(b, now)
				a.benchDeliver(b, rp.take(), now)
				a.benchFlush(b, now)
			}
			// Warm up: every flow in the caches, queues at size.
			for i := range evs {
				a.ingest.event(now, &evs[i])
			}
			a.benchFlush(b, now)
			ack()
			bytes, events := 0, 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.ingest.event(now, &evs[i%hotFlows])
				events++
				if i++; i%batch == 0 {
					a.benchFlush(b, now)
				}
				if i%1024 == 0 {
					b.StopTimer()
					bytes += ap.bytes
					ap.bytes = 0
					ack()
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(bytes+ap.bytes)/float64(events), "wire-B/event")
		})
	}
}

// BenchmarkReceiveToCache is the receiver's share per message: a
// datagram of FT-FW CT UPDATE messages through the mode's Receive
// (decode, sequence tracking, conversion) into the external cache, under
// the engine's lock as the receiver takes it; the alive timer's ACK goes
// out once per 1024 datagrams. Assembling each datagram from ready
// messages (a copy and a new sequence number) is timed too: it is a
// memmove, far below the rest.
func BenchmarkReceiveToCache(b *testing.B) {
	for _, perDatagram := range []int{1, 16} {
		b.Run(fmt.Sprintf("messages=%d", perDatagram), func(b *testing.B) {
			r, rp, clock := benchEngine(b)
			evs := benchEvents(hotFlows, ctnl.EventUpdate)
			// The datagrams a sender makes of the flows, one message
			// each: their sequence numbers are rewritten below.
			var msgs [][]byte
			for i := range evs {
				var m wire.Message
				cf := r.sink.flow
				CacheFromKernel(&cf, &evs[i].Flow)
				WireFromCache(&m.Flow, &cf, r.conv)
				m.Type = wire.TypeCTUpdate
				msgs = append(msgs, wire.AppendMessage(nil, &m))
			}
			now := clock.Now()
			seq := uint32(1)
			datagram := make([]byte, 0, 1472)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				datagram = datagram[:0]
				for range perDatagram {
					m := msgs[next%hotFlows]
					next++
					binary.BigEndian.PutUint32(m[4:], seq) // the header's sequence number
					seq++
					datagram = append(datagram, m...)
				}
				r.mu.Lock()
				err := r.mode.Receive(0, datagram, now)
				r.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
				if next%(1024*perDatagram) == 0 {
					now = now.Add(time.Second)
					r.benchFlush(b, now)
					rp.take()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next), "ns/message")
		})
	}
}
