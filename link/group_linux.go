package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// MaxLinks is how many links a Group holds, as conntrackd.
const MaxLinks = 4

// DefaultMaxSendErrors is GroupOptions.MaxSendErrors's default.
const DefaultMaxSendErrors = 3

// GroupOptions tune a Group.
type GroupOptions struct {
	// Default is the index of the link active at start-up.
	Default int
	// MaxSendErrors is how many sends in a row may fail on the active
	// link before the group moves to the next usable one; 0 means
	// DefaultMaxSendErrors. conntrackd has no such rule: it only watches
	// interfaces, and a TCP link whose peer is gone stays active.
	MaxSendErrors int
	Logger        *slog.Logger
}

// Group is a set of redundant links with conntrackd's rules (src/multichannel.c,
// src/sync-mode.c): one
// link is active for sending, all links receive. When the active link's
// interface is not both up and running (or is removed), the next link
// whose interface is up or running becomes active; so does a link on
// which a valid message arrives (Valid), so both peers converge on a
// link that works both ways. There is no automatic return to the default
// link.
type Group struct {
	links    []Link
	log      *slog.Logger
	maxFails int

	mu     sync.Mutex
	active int
	flags  []uint32 // IFF_UP / IFF_RUNNING of each link's interface
	fails  int      // consecutive send errors on the active link
	// failed has bit i set for each link that reached maxFails since the
	// last successful send; when every link has, the group stays where
	// it is and lets the others try again only after sendRetryInterval,
	// instead of switching every few sends.
	failed   uint32
	stuckAt  time.Time
	stuckLog bool

	nl   *netlink.Conn
	recv chan packet
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// packet is a datagram read on a link; Recv gives data back on release
// once it has copied it.
type packet struct {
	link    int
	data    []byte
	release chan []byte
}

// recvBuffers is how many datagrams a link's reader may have read ahead
// of Recv. With one, the reader waited for Recv to copy each datagram
// before reading on, and Recv's release woke it: two goroutine wake-ups a
// datagram instead of one.
const recvBuffers = 4

// OpenGroup opens every link of settings and groups them; the active link
// at start is the last one marked Default, else the first, as conntrackd.
func OpenGroup(settings []Settings, logger *slog.Logger) (*Group, error) {
	var links []Link
	def := 0
	for i, s := range settings {
		l, err := Open(s)
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return nil, err
		}
		links = append(links, l)
		if s.Default {
			def = i
		}
	}
	return NewGroup(links, GroupOptions{Default: def, Logger: logger})
}

// NewGroup groups links and starts receiving from all of them and watching
// their interfaces. It must run in the links' network namespace. The group
// owns the links: Close closes them, and so does a failure to watch the
// interfaces.
func NewGroup(links []Link, opts GroupOptions) (*Group, error) {
	if len(links) == 0 || len(links) > MaxLinks {
		return nil, fmt.Errorf("link group: %d links, want 1 to %d", len(links), MaxLinks)
	}
	if opts.Default < 0 || opts.Default >= len(links) {
		return nil, fmt.Errorf("link group: default link %d out of range", opts.Default)
	}
	g := &Group{
		links:    links,
		log:      opts.Logger,
		maxFails: opts.MaxSendErrors,
		active:   opts.Default,
		flags:    make([]uint32, len(links)),
		recv:     make(chan packet),
		done:     make(chan struct{}),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("component", "link")
	if g.maxFails <= 0 {
		g.maxFails = DefaultMaxSendErrors
	}
	// Subscribe before reading the initial state, so no change is missed.
	nl, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: unix.RTMGRP_LINK})
	if err != nil {
		for _, l := range links {
			l.Close()
		}
		return nil, fmt.Errorf("link group: watch interfaces: %w", err)
	}
	g.nl = nl
	for i, l := range links {
		g.flags[i] = unix.IFF_UP | unix.IFF_RUNNING
		if l.Index() == 0 {
			continue
		}
		ifi, err := net.InterfaceByIndex(l.Index())
		if err != nil {
			g.flags[i] = 0
			continue
		}
		g.flags[i] = 0
		if ifi.Flags&net.FlagUp != 0 {
			g.flags[i] |= unix.IFF_UP
		}
		if ifi.Flags&net.FlagRunning != 0 {
			g.flags[i] |= unix.IFF_RUNNING
		}
	}
	g.mu.Lock()
	g.checkLocked()
	g.mu.Unlock()
	g.wg.Add(1 + len(links))
	go g.watch()
	for i := range links {
		go g.read(i)
	}
	return g, nil
}

// Links returns the group's links in configuration order.
func (g *Group) Links() []Link { return g.links }

// Active returns the index of the active link.
func (g *Group) Active() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active
}

// Send sends datagram on the active link. After MaxSendErrors failures in
// a row the group moves to the next usable link and tries it once.
func (g *Group) Send(datagram []byte) error {
	g.mu.Lock()
	i := g.active
	g.mu.Unlock()
	err := g.links[i].Send(datagram)
	g.mu.Lock()
	defer g.mu.Unlock()
	if i != g.active {
		return err
	}
	if err == nil {
		g.fails, g.failed, g.stuckLog = 0, 0, false
		return nil
	}
	g.fails++
	if g.fails < g.maxFails || !g.sendFailOverLocked(i) {
		return err
	}
	g.mu.Unlock()
	err = g.links[g.Active()].Send(datagram)
	g.mu.Lock()
	return err
}

// sendRetryInterval is how long a group whose links all failed to send
// waits before it tries another link again: conntrackd's TCP channel also
// reconnects at most once a second.
const sendRetryInterval = time.Second

// sendFailOverLocked moves to the next usable link that has not failed to
// send since the last success. When all have, it stays on link i: the
// error is reported (and, for TCP, the datagram parked) on one link
// rather than spread over all of them in turn.
func (g *Group) sendFailOverLocked(i int) bool {
	g.failed |= 1 << i
	all := uint32(1)<<len(g.links) - 1
	if g.failed == all {
		if !g.stuckLog {
			g.stuckLog, g.stuckAt = true, time.Now()
			g.log.Error("no dedicated link can send", "link", g.links[i].Name())
		}
		if time.Since(g.stuckAt) < sendRetryInterval {
			return false
		}
		g.failed, g.stuckAt = 1<<i, time.Now()
	}
	return g.failOverLocked("send errors", g.failed)
}

// Valid records that a valid message arrived on link i: it becomes the
// active link, as in conntrackd.
//
// Unlike conntrackd, a link whose interface is not both up and running is
// not made active: the message may have been queued before it lost its
// carrier, and a veth or switch port without carrier takes sends without
// an error, so nothing would move the group off it again.
func (g *Group) Valid(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i != g.active && i >= 0 && i < len(g.links) && g.flags[i] == unix.IFF_UP|unix.IFF_RUNNING {
		g.switchLocked(i, "message received")
	}
}

// Recv copies the next datagram received on any link into buf, which
// should hold 64 KiB, and returns its length and the link's index.
func (g *Group) Recv(buf []byte) (n, link int, err error) {
	select {
	case p := <-g.recv:
		n = copy(buf, p.data)
		p.release <- p.data[:cap(p.data)] // never blocks: it has room for every buffer
		if n < len(p.data) {
			g.links[p.link].Counters().AddMalformed(1)
			return n, p.link, fmt.Errorf("link %s: %d-byte datagram truncated to %d", g.links[p.link].Name(), len(p.data), n)
		}
		return n, p.link, nil
	case <-g.done:
		return 0, -1, fmt.Errorf("link group: %w", net.ErrClosed)
	}
}

// read receives on link i into its own buffers and hands each datagram to
// Recv, which gives the buffer back once it has copied it.
func (g *Group) read(i int) {
	defer g.wg.Done()
	release := make(chan []byte, recvBuffers)
	for range recvBuffers {
		release <- make([]byte, 1<<16)
	}
	for {
		var buf []byte
		select {
		case buf = <-release:
		case <-g.done:
			return
		}
		n, err := g.links[i].Recv(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				g.log.Error("receive failed, link no longer read", "link", g.links[i].Name(), "error", err)
			}
			return
		}
		select {
		case g.recv <- packet{link: i, data: buf[:n], release: release}:
		case <-g.done:
			return
		}
	}
}

// watch follows rtnetlink link events for the links' interfaces.
func (g *Group) watch() {
	defer g.wg.Done()
	for {
		msgs, err := g.nl.Receive()
		if err != nil {
			select {
			case <-g.done:
				return
			default:
			}
			if errors.Is(err, unix.EBADF) || errors.Is(err, net.ErrClosed) {
				g.log.Warn("interface events", "error", err)
				return
			}
			// ENOBUFS: events were lost, maybe the one of the active
			// link going down, after which none may come. Ask for the
			// state of every interface again; the answers arrive here
			// as RTM_NEWLINK messages.
			g.log.Warn("interface events lost, reading every interface's state again", "error", err)
			if err := g.dumpLinks(); err != nil {
				g.log.Error("interface state", "error", err)
			}
			continue
		}
		for _, m := range msgs {
			index, flags, ok := parseLinkMessage(m)
			if ok {
				g.update(index, flags)
			}
		}
	}
}

// dumpLinks requests an RTM_GETLINK dump on the watcher's socket, which
// lives in the links' network namespace (the calling thread may not).
func (g *Group) dumpLinks() error {
	_, err := g.nl.Send(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	})
	return err
}

// parseLinkMessage returns the interface index and flags of an
// RTM_NEWLINK message; an RTM_DELLINK yields flags 0 (removed is down).
func parseLinkMessage(m netlink.Message) (index int, flags uint32, ok bool) {
	// struct ifinfomsg: family, pad, type (u16), index (s32), flags, change.
	if len(m.Data) < 16 {
		return 0, 0, false
	}
	index = int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
	switch m.Header.Type {
	case unix.RTM_NEWLINK:
		return index, binary.NativeEndian.Uint32(m.Data[8:12]), true
	case unix.RTM_DELLINK:
		return index, 0, true
	}
	return 0, 0, false
}

func (g *Group) update(index int, flags uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for i, l := range g.links {
		if l.Index() == index && index != 0 {
			g.flags[i] = flags & (unix.IFF_UP | unix.IFF_RUNNING)
			changed = true
		}
	}
	if changed {
		g.checkLocked()
	}
}

// checkLocked fails over if the active link's interface is not both up
// and running.
func (g *Group) checkLocked() {
	if g.flags[g.active] == unix.IFF_UP|unix.IFF_RUNNING {
		return
	}
	g.failOverLocked("interface "+State(g.flags[g.active]), 0)
}

// failOverLocked makes the next link (in configuration order, wrapping)
// whose interface is up or running, and whose bit is not set in skip, the
// active one.
func (g *Group) failOverLocked(reason string, skip uint32) bool {
	n := len(g.links)
	for k := 1; k < n; k++ {
		i := (g.active + k) % n
		if g.flags[i]&(unix.IFF_UP|unix.IFF_RUNNING) != 0 && skip&(1<<i) == 0 {
			g.switchLocked(i, reason)
			return true
		}
	}
	g.log.Error("no dedicated links available", "link", g.links[g.active].Name(), "reason", reason)
	return false
}

func (g *Group) switchLocked(i int, reason string) {
	g.log.Info("device becomes dedicated link", "device", g.links[i].Interface(), "link", g.links[i].Name(),
		"previous", g.links[g.active].Name(), "reason", reason)
	g.active = i
	g.fails = 0
}

// State is the "-s link" status word for interface flags: RUNNING,
// NO-CARRIER (up, no carrier) or DOWN.
func State(flags uint32) string {
	switch {
	case flags&unix.IFF_RUNNING != 0:
		return "RUNNING"
	case flags&unix.IFF_UP != 0:
		return "NO-CARRIER"
	}
	return "DOWN"
}

// Status reports every link in configuration order.
func (g *Group) Status() []LinkStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := make([]LinkStatus, len(g.links))
	for i, l := range g.links {
		st[i] = statusOf(l)
		st[i].State = State(g.flags[i])
		st[i].Active = i == g.active
	}
	return st
}

// Close stops the group and closes its links.
func (g *Group) Close() error {
	var err error
	g.once.Do(func() {
		close(g.done)
		err = g.nl.Close()
		for _, l := range g.links {
			err = errors.Join(err, l.Close())
		}
		g.wg.Wait()
	})
	return err
}
