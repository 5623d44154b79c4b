package ctnl

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// nlSock is a NETLINK_NETFILTER socket. It sends through netlink.Conn but
// reads datagrams itself: netlink.Conn.Receive gathers a whole dump before
// returning, and from v1.10 on waits after a GET's acknowledgement for an
// NLMSG_DONE that never comes.
type nlSock struct {
	c   *netlink.Conn
	raw syscall.RawConn
}

func dialSock(cfg sockConfig) (sock, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.netns})
	if err != nil {
		return nil, fmt.Errorf("open ctnetlink socket: %w", err)
	}
	s := &nlSock{c: c}
	if err := s.setup(cfg); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (s *nlSock) setup(cfg sockConfig) error {
	raw, err := s.c.SyscallConn()
	if err != nil {
		return err
	}
	s.raw = raw
	opts := []struct {
		on  bool
		opt netlink.ConnOption
		why string
	}{
		{cfg.noENOBUFS, netlink.NoENOBUFS, "NETLINK_NO_ENOBUFS"},
		{cfg.broadcastError, netlink.BroadcastError, "NETLINK_BROADCAST_ERROR"},
		{cfg.ack, netlink.CapAcknowledge, "NETLINK_CAP_ACK"},
		{cfg.ack, netlink.ExtendedAcknowledge, "NETLINK_EXT_ACK"},
	}
	for _, o := range opts {
		if o.on {
			if err := s.c.SetOption(o.opt, true); err != nil {
				return fmt.Errorf("set %s: %w", o.why, err)
			}
		}
	}
	if cfg.readBuffer > 0 {
		if _, err := s.setReadBuffer(cfg.readBuffer); err != nil {
			return err
		}
	}
	if cfg.filter != nil {
		if err := s.c.SetBPF(cfg.filter); err != nil {
			return fmt.Errorf("attach the event filter: %w", err)
		}
	}
	for _, g := range cfg.groups {
		if err := s.c.JoinGroup(g); err != nil {
			return fmt.Errorf("join ctnetlink group %d: %w", g, err)
		}
	}
	return nil
}

func (s *nlSock) send(msgs []netlink.Message) error {
	_, err := s.c.SendMessages(msgs)
	return err
}

func (s *nlSock) recv(b []byte, idle func()) (int, error) {
	var n int
	var rerr error
	// idle runs inside Read, after the poller's readiness was reset and
	// before it waits: a datagram that arrives meanwhile wakes the wait.
	err := s.raw.Read(func(fd uintptr) bool {
		n, rerr = recvNoWait(fd, b)
		if rerr == unix.EAGAIN && idle != nil {
			idle()
			idle = nil
		}
		if rerr == unix.EAGAIN || rerr == unix.EINTR {
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// recvNoWait reads one datagram without waiting. It is a raw system call,
// outside the Go scheduler's syscall bookkeeping: one that cannot block
// need not hand its P over, and the bookkeeping, paid for every event read,
// cost more than the read (entersyscall, exitsyscall, and sysmon's retakes,
// each waking a thread). MSG_TRUNC makes the kernel return a datagram's
// whole length, so that one larger than b shows.
func recvNoWait(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errTruncated
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if int(r) > len(b) {
		return 0, errTruncated
	}
	return int(r), nil
}

func (s *nlSock) portID() uint32 { return s.c.PID() }

func (s *nlSock) setReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }

func (s *nlSock) setReadBuffer(n int) (int, error) {
	if err := s.c.SetReadBuffer(n); err != nil {
		return 0, fmt.Errorf("set receive buffer to %d bytes: %w", n, err)
	}
	return s.c.ReadBuffer()
}

func (s *nlSock) close() error { return s.c.Close() }

// setFilter replaces the socket's filter (SO_ATTACH_FILTER replaces the
// one attached), or removes it for nil.
func (s *nlSock) setFilter(prog []bpf.RawInstruction) error {
	if prog == nil {
		return s.c.RemoveBPF()
	}
	return s.c.SetBPF(prog)
}
