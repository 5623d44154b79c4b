//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// events is a plain netlink socket subscribed, in one namespace, to the
// conntrack event groups, that counts what comes and drops it. It is the
// independent count of the events both daemons were offered: the same
// kernel events reach every listener of the namespace, whichever daemon
// runs there. With it listening, the kernel also builds and queues an
// event for every insert, in the inserter's context: the kernel's limit
// for a node whose daemon listens, as a commit's always does, without the
// cost of decoding the events.
type events struct {
	fd      int
	stopped atomic.Bool
	done    chan struct{}
	n, lost atomic.Uint64
}

// listenEvents starts counting conntrack events in ns (nil: this
// process's namespace) until stop.
func listenEvents(ns *netnstest.NetNS) (*events, error) {
	e := &events{done: make(chan struct{})}
	err := in(ns, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("event socket: %w", err)
		}
		e.fd = fd
		// NFNLGRP_CONNTRACK_NEW, _UPDATE and _DESTROY are groups 1 to 3.
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 0b111}); err != nil {
			return fmt.Errorf("event socket: bind: %w", err)
		}
		// Far more than the daemons' buffers: the count is the
		// denominator of both daemons' figures, it must not lose what
		// they may.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 256<<20); err != nil {
			return fmt.Errorf("event socket: SO_RCVBUFFORCE: %w", err)
		}
		// The timeout lets the loop see stop: closing a socket does not
		// wake a blocked recvfrom.
		tv := unix.Timeval{Usec: 100000}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		if e.fd > 0 {
			unix.Close(e.fd)
		}
		return nil, err
	}
	go e.read()
	return e, nil
}

func (e *events) read() {
	defer close(e.done)
	buf := make([]byte, 1<<20)
	for !e.stopped.Load() {
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		switch {
		case err == unix.ENOBUFS:
			// The kernel dropped events for this socket: the count is
			// short, and says so.
			e.lost.Add(1)
		case err == unix.EINTR || err == unix.EAGAIN:
		case err != nil:
			return
		default:
			e.n.Add(uint64(countMessages(buf[:n])))
		}
	}
}

// count is how many events arrived so far; overruns how many times the
// kernel had to drop some for this socket (then count is short).
func (e *events) count() uint64    { return e.n.Load() }
func (e *events) overruns() uint64 { return e.lost.Load() }

func (e *events) stop() {
	e.stopped.Store(true)
	<-e.done
	unix.Close(e.fd)
}

// countMessages is how many netlink messages b holds: each starts with
// its length (nlmsghdr, netlink(7)), and the next is aligned to 4 bytes.
// A truncated tail is not counted.
func countMessages(b []byte) int {
	n := 0
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		n++
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
	}
	return n
}

// tcpLoad opens conns short TCP connections from the client to the
// server's echo service through the active firewall, from a few
// goroutines at once: each connects, echoes one line and closes, which
// makes the firewall's conntrack emit several events (new, established,
// the closing states). It returns once all are done, or the first
// error.
func tcpLoad(l *lab.Lab, conns int) error {
	const workers = 4
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(conns) {
				if err := echoOnce(l); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func echoOnce(l *lab.Lab) error {
	c, err := l.DialErr(lab.IPv4, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Echo(10 * time.Second)
}
