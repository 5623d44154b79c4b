//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
// through ctnetlink, in the biggest batches a Writer takes: this is both
// how the figures fill fw1 and how they measure the kernel's own limit
// for batched inserts. The kernel always answers, but on a busy machine
// (a namespace of a million entries being freed) not always within the
// Writer's default 5s.
func create(ns *netnstest.NetNS, n int) error {
	if n > maxFlows {
		return fmt.Errorf("create %d flows: at most %d", n, maxFlows)
	}
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
	for start := 0; start < n; start += chunk {
		m := min(chunk, n-start)
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

// drainEvents subscribes a plain netlink socket in ns to the conntrack
// event groups and reads and drops what comes until the returned stop is
// called. With a listener, the kernel builds and queues an event for
// every insert, in the inserter's context: this is the kernel's limit for
// a node whose daemon listens, as a commit's always does, without the
// cost of decoding the events.
func drainEvents(ns *netnstest.NetNS) (stop func(), err error) {
	var fd int
	err = ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("event socket: %w", err)
		}
		// NFNLGRP_CONNTRACK_NEW, _UPDATE and _DESTROY are groups 1 to 3.
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 0b111}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("event socket: bind: %w", err)
		}
		// Big enough that reading keeps up; losses would not matter
		// anyway, the kernel did the work.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
			unix.Close(fd)
			return fmt.Errorf("event socket: SO_RCVBUFFORCE: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var stopped atomic.Bool
	go func() {
		defer close(done)
		buf := make([]byte, 1<<16)
		for !stopped.Load() {
			// The timeout lets the loop see stop: closing a socket does
			// not wake a blocked recvfrom.
			if _, _, err := unix.Recvfrom(fd, buf, 0); err != nil && err != unix.EINTR && err != unix.ENOBUFS && err != unix.EAGAIN {
				return
			}
		}
	}()
	tv := unix.Timeval{Usec: 100000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		stopped.Store(true)
		unix.Close(fd)
		return nil, err
	}
	return func() {
		stopped.Store(true)
		<-done
		unix.Close(fd)
	}, nil
}
