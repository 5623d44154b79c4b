package syncmode_test

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link/wire"
)

// direct hands each datagram to a node's Receive at once, as a lossless
// link would; with no node it drops it, counting the bytes.
type direct struct {
	to    *node
	now   *time.Time
	bytes int
}

func (d *direct) Send(b []byte) error {
	d.bytes += len(b)
	if d.to != nil {
		return d.to.m.Receive(0, b, *d.now)
	}
	return nil
}

// BenchmarkLocalUpdate is a mode's share of the send path: an UPDATE event
// already applied to the internal cache, queued and flushed into an encoded
// datagram, per event. Under FT-FW the peer receives each datagram and
// acknowledges once a second of fake time (every 256 events), so that the
// resend queue stays bounded as on a healthy link; its receive cost is
// included.
func BenchmarkLocalUpdate(b *testing.B) {
	const flows = 1024
	for _, kind := range allKinds {
		b.Run(kind.String(), func(b *testing.B) {
			now := t0
			toA, toB := &direct{now: &now}, &direct{now: &now}
			peer := newNode(b, "b", nodeOpts{kind: kind, refresh: 60 * time.Second, seed: 2, senders: []syncmode.Sender{toA}})
			if kind == syncmode.FTFW {
				toB.to = peer
			}
			a := newNode(b, "a", nodeOpts{kind: kind, refresh: 60 * time.Second, seed: 1, senders: []syncmode.Sender{toB}})
			toA.to = a
			refs := make([]cache.Ref, flows)
			for i := range refs {
				f := testFlow(i)
				refs[i], _ = a.internal.Replace(&f, t0)
				a.m.Local(refs[i], now) // warm up: maps and queues at size
			}
			if err := a.m.Flush(now); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.m.Local(refs[i], now)
				if err := a.m.Flush(now); err != nil {
					b.Fatal(err)
				}
				if i++; i == flows {
					i = 0
				}
				if i%256 == 0 {
					now = now.Add(time.Second)
					for _, n := range []*node{peer, a} {
						n.m.Tick(now)
						if err := n.m.Flush(now); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(toB.bytes)/float64(b.N), "wire-B/op")
		})
	}
}

// BenchmarkReceiveUpdate is a mode's share of the receive path: one datagram
// holding one CT UPDATE, decoded, converted and applied to the external
// cache, per message.
func BenchmarkReceiveUpdate(b *testing.B) {
	for _, kind := range allKinds {
		b.Run(kind.String(), func(b *testing.B) {
			r := newNode(b, "b", nodeOpts{kind: kind, refresh: 60 * time.Second, seed: 2, senders: []syncmode.Sender{&direct{}}})
			f := testFlow(1)
			var m wire.Message
			convert().ToWire(&m.Flow, &f)
			m.Type = wire.TypeCTUpdate
			seq := uint32(1)
			var d []byte
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				m.Seq = seq
				seq++
				d = wire.AppendMessage(d[:0], &m)
				if err := r.m.Receive(0, d, now); err != nil {
					b.Fatal(err)
				}
				if seq%256 == 0 { // the alive timer's ACK
					now = now.Add(time.Second)
					r.m.Tick(now)
					if err := r.m.Flush(now); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
