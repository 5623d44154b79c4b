//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// sources is how many addresses 198.18.0.0/15 holds: the benchmarking
// range (RFC 2544) carries no traffic, so entries made up in it can never
// match a packet.
const sources = 1 << 17

// maxFlows is how many distinct flows syntheticFlow makes: every source
// with each of 50000 source ports.
const maxFlows = sources * 50000

// syntheticFlow is the i-th (0 to maxFlows-1) of a family of made-up
// established TCP flows from 198.18.0.0/15 to one address of it. The
// source address varies first, then the source port, so a million flows
// fit in the range.
func syntheticFlow(i int) ctnl.Flow {
	s := i % sources
	a := [4]byte{198, 18 + byte(s>>16&1), byte(s >> 8), byte(s)}
	o := ctnl.Tuple{Src: netip.AddrFrom4(a), Dst: netip.AddrFrom4([4]byte{198, 19, 255, 254}),
		Proto: 6, SrcPort: uint16(10000 + i/sources), DstPort: 80}
	f := ctnl.Flow{Orig: o, Reply: o.Invert(), Timeout: 3600,
		Status: ctnl.StatusConfirmed | ctnl.StatusSeenReply | ctnl.StatusAssured}
	f.Present |= ctnl.HasProtoInfo
	f.TCP.State = 3 // ESTABLISHED
	return f
}

// create makes syntheticFlow(0) to syntheticFlow(n-1) in ns's table
// through ctnetlink, in the biggest batches a Writer takes, from writers
// goroutines at once, each with its own socket and its own share of the
// flows: this is both how the figures fill fw1, as fast as the kernel
// takes them (the highest event rate this generator reaches), and, with
// one writer, how they measure the kernel's own limit for batched
// inserts. The kernel always answers, but on a busy machine (a namespace
// of a million entries being freed) not always within the Writer's
// default 5s.
func create(ns *netnstest.NetNS, n, writers int) error {
	if n > maxFlows {
		return fmt.Errorf("create %d flows: at most %d", n, maxFlows)
	}
	writers = max(1, min(writers, n))
	errs := make(chan error, writers)
	for w := range writers {
		from, to := n*w/writers, n*(w+1)/writers
		go func() { errs <- createRange(ns, from, to) }()
	}
	var err error
	for range writers {
		err = errors.Join(err, <-errs)
	}
	return err
}

// createRange makes syntheticFlow(from) to syntheticFlow(to-1) in ns's
// table through one Writer.
func createRange(ns *netnstest.NetNS, from, to int) error {
	var w *ctnl.Writer
	if err := ns.Do(func() (err error) {
		w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256, Timeout: time.Minute})
		return err
	}); err != nil {
		return err
	}
	defer w.Close()
	const chunk = 4096
	flows := make([]ctnl.Flow, chunk)
	reqs := make([]ctnl.Request, chunk)
	errs := make([]error, chunk)
	for start := from; start < to; start += chunk {
		m := min(chunk, to-start)
		for i := range m {
			flows[i] = syntheticFlow(start + i)
			reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: &flows[i]}
		}
		if err := w.Apply(reqs[:m], errs[:m]); err != nil {
			return fmt.Errorf("create in %s: %w", ns.Name, err)
		}
		for i, err := range errs[:m] {
			if err != nil {
				return fmt.Errorf("create %v in %s: %w", flows[i].Orig, ns.Name, err)
			}
		}
	}
	return nil
}
