package ctnl

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mdlayher/netlink"
)

// Encoding a flow into a reused buffer, as the writer does per request.
func BenchmarkAppendRequest(b *testing.B) {
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	f.SNAT, f.Mark, f.Helper = nat("198.18.2.1", 50000), 7, "ftp"
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = AppendRequest(buf[:0], OpCreate, f); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// Decoding one TCP event (ti-mo's decoder, then conversion).
func BenchmarkDecodeEvent(b *testing.B) {
	f := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	f.Mark = 7
	data, h, err := AppendRequest(nil, OpUpdate, f)
	if err != nil {
		b.Fatal(err)
	}
	m := netlink.Message{Header: h, Data: data}
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := decodeEvent(m, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// Writes to a namespace's table, one request per sendmsg against 64: what
// pipelining buys. Privileged; every iteration updates the same 1024 flows.
func BenchmarkKernelWriter(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprint("batch ", batch), func(b *testing.B) {
			k := newKernelNS(b)
			k.w.batch = batch
			reqs := make([]Request, 1024)
			for i := range reqs {
				reqs[i] = Request{Op: OpCreateOrUpdate, Flow: udpFlow(i)}
			}
			errs := make([]error, len(reqs))
			b.ReportAllocs()
			for b.Loop() {
				if err := k.w.Apply(reqs, errs); err != nil {
					b.Fatal(err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*len(reqs))/b.Elapsed().Seconds(), "requests/s")
		})
	}
}
