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

// gen says which synthetic flows to create, and how fast.
type gen struct {
	// From and N: syntheticFlow(From) to syntheticFlow(From+N-1).
	From, N int
	// Writers goroutines create them at once, each with its own socket
	// and its own share of the flows.
	Writers int
	// Rate, if not 0, paces them all together to that many flows a
	// second; 0 is as fast as the kernel takes them.
	Rate int
}

// create makes g's flows in ns's table through ctnetlink, in batches of
// 256: this is how the figures fill fw1, paced (the same load for both
// daemons) or as fast as the kernel takes them from several writers (the
// highest event rate this generator reaches), and, with one writer, how
// they measure the kernel's own limit for batched inserts. The kernel
// always answers, but on a busy machine (a namespace of a million
// entries being freed) not always within the Writer's default 5s.
func create(ns *netnstest.NetNS, g gen) error {
	if g.From+g.N > maxFlows {
		return fmt.Errorf("create flows up to %d: at most %d", g.From+g.N, maxFlows)
	}
	w := max(1, min(g.Writers, g.N))
	errs := make(chan error, w)
	for i := range w {
		from, to := g.From+g.N*i/w, g.From+g.N*(i+1)/w
		rate := float64(g.Rate) / float64(w)
		go func() { errs <- createRange(ns, from, to, rate) }()
	}
	var err error
	for range w {
		err = errors.Join(err, <-errs)
	}
	return err
}

// createRange makes syntheticFlow(from) to syntheticFlow(to-1) in ns's
// table through one Writer, rate a second (0: unpaced).
func createRange(ns *netnstest.NetNS, from, to int, rate float64) error {
	var w *ctnl.Writer
	if err := in(ns, func() (err error) {
		w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256, Timeout: time.Minute})
		return err
	}); err != nil {
		return err
	}
	defer w.Close()
	// Unpaced, big chunks keep the Writer's batches full; paced, one
	// batch at a time keeps the load smooth.
	chunk := 4096
	if rate > 0 {
		chunk = 256
	}
	flows := make([]ctnl.Flow, chunk)
	reqs := make([]ctnl.Request, chunk)
	errs := make([]error, chunk)
	began := time.Now()
	for start := from; start < to; start += chunk {
		if rate > 0 {
			// The schedule, not the last sleep, sets the pace: a late
			// batch is caught up with, not carried over.
			time.Sleep(time.Until(began.Add(time.Duration(float64(start-from) / rate * float64(time.Second)))))
		}
		m := min(chunk, to-start)
		for i := range m {
			flows[i] = syntheticFlow(start + i)
			reqs[i] = ctnl.Request{Op: ctnl.OpCreate, Flow: &flows[i]}
		}
		if err := w.Apply(reqs[:m], errs[:m]); err != nil {
			return fmt.Errorf("create in %s: %w", nsName(ns), err)
		}
		for i, err := range errs[:m] {
			if err != nil {
				return fmt.Errorf("create %v in %s: %w", flows[i].Orig, nsName(ns), err)
			}
		}
	}
	return nil
}

// in runs fn in ns, or, with ns nil, in this thread's own namespace.
func in(ns *netnstest.NetNS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	return ns.Do(fn)
}

func nsName(ns *netnstest.NetNS) string {
	if ns == nil {
		return "this namespace"
	}
	return ns.Name
}
