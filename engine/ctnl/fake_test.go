package ctnl

import (
	"encoding/binary"
	"net"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"syscall"
)

// fakeSock stands in for the kernel: answer turns each sent batch into the
// datagrams the socket will read, and reads beyond them fail with
// net.ErrClosed (a test that waits for more than the kernel sent ends
// instead of hanging).
type fakeSock struct {
	pid     uint32
	answer  func(msgs []netlink.Message) [][]byte
	queue   [][]byte
	sent    [][]netlink.Message
	recvErr []error // returned, in order, before the queue is read
	bufs    []int   // sizes asked of setReadBuffer
	refuse  bool    // setReadBuffer fails
	// clock, when set, is the test's time: each recv advances it by
	// step and fails with os.ErrDeadlineExceeded past the read deadline,
	// as a real socket would.
	clock    *time.Time
	step     time.Duration
	deadline time.Time
}

func (s *fakeSock) send(msgs []netlink.Message) error {
	cp := make([]netlink.Message, len(msgs))
	for i, m := range msgs {
		m.Data = append([]byte(nil), m.Data...)
		cp[i] = m
	}
	s.sent = append(s.sent, cp)
	if s.answer != nil {
		s.queue = append(s.queue, s.answer(cp)...)
	}
	return nil
}

func (s *fakeSock) recv(b []byte, idle func()) (int, error) {
	if idle != nil && len(s.recvErr) == 0 && len(s.queue) == 0 {
		idle()
	}
	if s.clock != nil {
		*s.clock = s.clock.Add(s.step)
		if !s.deadline.IsZero() && s.clock.After(s.deadline) {
			return 0, os.ErrDeadlineExceeded
		}
	}
	if len(s.recvErr) > 0 {
		err := s.recvErr[0]
		s.recvErr = s.recvErr[1:]
		return 0, err
	}
	if len(s.queue) == 0 {
		return 0, net.ErrClosed
	}
	d := s.queue[0]
	s.queue = s.queue[1:]
	if len(d) > len(b) {
		return 0, errTruncated
	}
	return copy(b, d), nil
}

func (s *fakeSock) portID() uint32                    { return s.pid }
func (s *fakeSock) setReadDeadline(t time.Time) error { s.deadline = t; return nil }
func (s *fakeSock) close() error                      { return nil }

func (s *fakeSock) setReadBuffer(n int) (int, error) {
	if s.refuse {
		return 0, syscall.EPERM
	}
	s.bufs = append(s.bufs, n)
	return 2 * n, nil
}

// marshal returns m as it is on the wire.
func marshal(m netlink.Message) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(16+len(m.Data)))
	b = binary.NativeEndian.AppendUint16(b, uint16(m.Header.Type))
	b = binary.NativeEndian.AppendUint16(b, uint16(m.Header.Flags))
	b = binary.NativeEndian.AppendUint32(b, m.Header.Sequence)
	b = binary.NativeEndian.AppendUint32(b, m.Header.PID)
	b = append(b, m.Data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// datagram packs messages into one datagram.
func datagram(msgs ...netlink.Message) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, marshal(m)...)
	}
	return b
}

// ack is the kernel's answer to req: errno 0 for success. Like a socket
// with NETLINK_CAP_ACK, it echoes only the request's header.
func ack(req netlink.Message, errno syscall.Errno) netlink.Message {
	d := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	h := req.Header
	h.Length = uint32(16 + len(req.Data))
	d = binary.NativeEndian.AppendUint32(d, h.Length)
	d = binary.NativeEndian.AppendUint16(d, uint16(h.Type))
	d = binary.NativeEndian.AppendUint16(d, uint16(h.Flags))
	d = binary.NativeEndian.AppendUint32(d, h.Sequence)
	d = binary.NativeEndian.AppendUint32(d, h.PID)
	flags := netlink.HeaderFlags(nlmFCapped)
	if errno == 0 {
		flags = 0
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Error, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   d,
	}
}

// done is the end of a dump.
func done(seq uint32) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: seq},
		Data:   make([]byte, 4),
	}
}
