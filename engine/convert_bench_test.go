package engine

import (
	"testing"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// benchFlows returns the conntrack messages of the captures (every
// protocol, NAT, helpers, labels, masters) as the kernel flows they
// become on the receiver, and as decoded.
func benchFlows(b *testing.B) ([]ctnl.Flow, []wire.Flow) {
	var ks []ctnl.Flow
	var ws []wire.Flow
	for _, c := range capturedMessages(b) {
		if !c.msg.Type.IsCT() {
			continue
		}
		var k ctnl.Flow
		if err := KernelFlow(&k, &c.msg.Flow, captureOptions); err != nil {
			b.Fatal(err)
		}
		ks = append(ks, k)
		ws = append(ws, c.msg.Flow)
	}
	return ks, ws
}

// BenchmarkKernelToWire is the send path from a kernel event to the sync
// link's buffer: conversion and encoding, per flow.
func BenchmarkKernelToWire(b *testing.B) {
	ks, _ := benchFlows(b)
	var m wire.Message
	m.Type = wire.TypeCTUpdate
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		WireFlow(&m.Flow, &ks[i], captureOptions)
		buf = wire.AppendMessage(buf[:0], &m)
		if i++; i == len(ks) {
			i = 0
		}
	}
}

// BenchmarkWireToKernel is the receive path from a decoded message to the
// netlink request that writes the flow: conversion and ctnl's encoding,
// per flow, into the same flow value each time as the engine does.
func BenchmarkWireToKernel(b *testing.B) {
	_, ws := benchFlows(b)
	var k ctnl.Flow
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := KernelFlow(&k, &ws[i], captureOptions); err != nil {
			b.Fatal(err)
		}
		var err error
		if buf, _, err = ctnl.AppendRequest(buf[:0], ctnl.OpCreate, &k); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(ws) {
			i = 0
		}
	}
}

// BenchmarkConvertOnly separates the conversions from the encoders.
func BenchmarkConvertOnly(b *testing.B) {
	ks, ws := benchFlows(b)
	b.Run("kernel-to-wire", func(b *testing.B) {
		var w wire.Flow
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			WireFlow(&w, &ks[i], captureOptions)
			if i++; i == len(ks) {
				i = 0
			}
		}
	})
	b.Run("wire-to-kernel", func(b *testing.B) {
		var k ctnl.Flow
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := KernelFlow(&k, &ws[i], captureOptions); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(ws) {
				i = 0
			}
		}
	})
}

// BenchmarkHub is each hot path through the cache's form, per flow of the
// captures: a kernel event into the internal cache's flow, that flow into
// a message (send, bulk send), a message into the external cache's flow,
// and that flow into the kernel's (commit).
func BenchmarkHub(b *testing.B) {
	ks, ws := benchFlows(b)
	cs := make([]cache.Flow, len(ks))
	for i := range ks {
		CacheFromKernel(&cs[i], &ks[i])
	}
	loop := func(b *testing.B, n int, fn func(i int)) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			fn(i)
			if i++; i == n {
				i = 0
			}
		}
	}
	b.Run("kernel-to-cache", func(b *testing.B) {
		var c cache.Flow
		loop(b, len(ks), func(i int) { CacheFromKernel(&c, &ks[i]) })
	})
	b.Run("cache-to-wire", func(b *testing.B) {
		var w wire.Flow
		loop(b, len(cs), func(i int) { WireFromCache(&w, &cs[i], captureOptions) })
	})
	b.Run("wire-to-cache", func(b *testing.B) {
		var c cache.Flow
		loop(b, len(ws), func(i int) {
			if err := CacheFromWire(&c, &ws[i]); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("cache-to-kernel", func(b *testing.B) {
		var k ctnl.Flow
		loop(b, len(cs), func(i int) {
			if err := KernelFromCache(&k, &cs[i], captureOptions); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkExpectHub is each path of an expectation through the cache's
// form, per expectation message of the captures: a kernel event into the
// internal cache's expectation, that into a message, a message into the
// external cache's, and that into the kernel's (commit).
func BenchmarkExpectHub(b *testing.B) {
	var ks []ctnl.Expect
	var ws []wire.Expect
	for _, c := range capturedMessages(b) {
		if !c.msg.Type.IsExp() {
			continue
		}
		var k ctnl.Expect
		if err := KernelExpect(&k, &c.msg.Exp, captureOptions); err != nil {
			b.Fatal(err)
		}
		ks = append(ks, k)
		ws = append(ws, c.msg.Exp)
	}
	cs := make([]cache.Expect, len(ks))
	for i := range ks {
		CacheExpectFromKernel(&cs[i], &ks[i])
	}
	loop := func(b *testing.B, n int, fn func(i int)) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			fn(i)
			if i++; i == n {
				i = 0
			}
		}
	}
	b.Run("kernel-to-cache", func(b *testing.B) {
		var c cache.Expect
		loop(b, len(ks), func(i int) { CacheExpectFromKernel(&c, &ks[i]) })
	})
	b.Run("cache-to-wire", func(b *testing.B) {
		var w wire.Expect
		loop(b, len(cs), func(i int) { WireExpectFromCache(&w, &cs[i], captureOptions) })
	})
	b.Run("wire-to-cache", func(b *testing.B) {
		var c cache.Expect
		loop(b, len(ws), func(i int) {
			if err := CacheExpectFromWire(&c, &ws[i]); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("cache-to-kernel", func(b *testing.B) {
		var k ctnl.Expect
		loop(b, len(cs), func(i int) {
			if err := KernelExpectFromCache(&k, &cs[i], captureOptions); err != nil {
				b.Fatal(err)
			}
		})
	})
}
