package control

import (
	"context"
	"testing"
)

// BenchmarkDump streams b.N flows, one per op, from a handler through a
// server and a client over a UNIX socket: the cost of `ctsync dump` per
// flow, both ends included.
func BenchmarkDump(b *testing.B) {
	h := &fake{lines: b.N}
	s := serve(b, h, Options{})
	n := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(`{"data":"tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.1 sport=1 dport=80 [ASSURED]"}`) + 1))
	b.ResetTimer()
	err := Run(context.Background(), s.path, Request{Command: Dump, Cache: Internal}, nil, func([]byte) error { n++; return nil })
	if err != nil || n != b.N {
		b.Fatalf("%d of %d lines: %v", n, b.N, err)
	}
}

// BenchmarkTextData frames one dump line: the server's share of the work.
func BenchmarkTextData(b *testing.B) {
	line := []byte("tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.1 sport=40000 dport=80 src=203.0.113.1 dst=198.51.100.1 sport=80 dport=40000 [ASSURED] mark=0 use=1")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		buf = appendTextData(buf[:0], line)
	}
}
