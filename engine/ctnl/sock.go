package ctnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
)

// sock is the I/O of one netlink socket: the real one (sock_linux.go) or a
// test's fake.
type sock interface {
	// send sends msgs in one sendmsg.
	send(msgs []netlink.Message) error
	// recv reads one datagram into b. An overrun of the socket's
	// receive queue is unix.ENOBUFS; a datagram larger than b is
	// errTruncated. When no datagram is queued, idle, if not nil, is
	// called once before recv waits for one.
	recv(b []byte, idle func()) (int, error)
	portID() uint32
	setReadDeadline(t time.Time) error
	// setReadBuffer asks for n bytes and returns what the kernel gave.
	setReadBuffer(n int) (int, error)
	close() error
}

// sockConfig is what a socket is opened with.
type sockConfig struct {
	netns          int
	groups         []uint32
	readBuffer     int
	noENOBUFS      bool
	broadcastError bool
	// filter, when not nil, is attached with SO_ATTACH_FILTER before
	// the socket joins its groups, so no event escapes it.
	filter []bpf.RawInstruction
	// ack makes acknowledgements small (NETLINK_CAP_ACK) and carry the
	// kernel's message (NETLINK_EXT_ACK).
	ack bool
}

var errTruncated = errors.New("netlink message larger than the receive buffer")

// recvBufSize holds any datagram the kernel sends: a dump part is at most
// 32 KiB (netlink_dump's allocation), an event a few hundred bytes.
const recvBufSize = 64 << 10

// Netlink message flags this package reads (linux/netlink.h).
const (
	nlmFCapped  = 0x100
	nlmFAckTLVs = 0x200
	nlmsgerrMsg = 1 // NLMSGERR_ATTR_MSG
)

// eachMessage calls fn for each netlink message in b, a datagram.
func eachMessage(b []byte, fn func(netlink.Message) error) error {
	for len(b) > 0 {
		if len(b) < 16 {
			return fmt.Errorf("netlink datagram: %d trailing bytes, less than a header", len(b))
		}
		n := binary.NativeEndian.Uint32(b)
		if n < 16 || int(n) > len(b) {
			return fmt.Errorf("netlink message length %d with %d bytes left", n, len(b))
		}
		m := netlink.Message{
			Header: netlink.Header{
				Length:   n,
				Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
				Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
				Sequence: binary.NativeEndian.Uint32(b[8:]),
				PID:      binary.NativeEndian.Uint32(b[12:]),
			},
			Data: b[16:n],
		}
		if err := fn(m); err != nil {
			return err
		}
		al := (int(n) + 3) &^ 3
		if al > len(b) {
			al = len(b)
		}
		b = b[al:]
	}
	return nil
}

// ackError returns the error an NLMSG_ERROR message carries, nil for an
// acknowledgement. The error wraps a unix.Errno, so errors.Is(err,
// unix.EEXIST) works, and quotes the kernel's extended message if any.
func ackError(m netlink.Message) error {
	if len(m.Data) < 4 {
		return errors.New("netlink error message too short")
	}
	code := int32(binary.NativeEndian.Uint32(m.Data))
	if code == 0 {
		return nil
	}
	errno := syscall.Errno(-code)
	if m.Header.Flags&nlmFAckTLVs != 0 {
		off := 4 + 16
		if m.Header.Flags&nlmFCapped == 0 && len(m.Data) >= off {
			// The echoed request follows in full.
			off = 4 + int(binary.NativeEndian.Uint32(m.Data[4:]))
		}
		if off <= len(m.Data) {
			if ad, err := netlink.NewAttributeDecoder(m.Data[off:]); err == nil {
				for ad.Next() {
					if ad.Type() == nlmsgerrMsg {
						return &kernelError{errno: errno, msg: strings.TrimRight(ad.String(), "\x00")}
					}
				}
			}
		}
	}
	return errno
}

// ackedSeq returns the sequence number of the request an NLMSG_ERROR
// message answers.
func ackedSeq(m netlink.Message) (uint32, bool) {
	if len(m.Data) < 4+16 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(m.Data[4+8:]), true
}

// kernelError is an errno with the kernel's explanation.
type kernelError struct {
	errno syscall.Errno
	msg   string
}

func (e *kernelError) Error() string { return e.errno.Error() + ": " + e.msg }
func (e *kernelError) Unwrap() error { return e.errno }

// conn runs requests on a sock: it numbers them, and reads replies with
// its own loop, which ends at the acknowledgement (or NLMSG_DONE of a dump)
// carrying the request's sequence number.
type conn struct {
	s       sock
	buf     []byte
	seq     uint32
	timeout time.Duration
	now     func() time.Time
}

func newConn(s sock, timeout time.Duration, now func() time.Time) *conn {
	if now == nil {
		now = time.Now
	}
	return &conn{s: s, buf: make([]byte, recvBufSize), timeout: timeout, now: now}
}

func (c *conn) nextSeq() uint32 {
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	return c.seq
}

// deadline bounds the wait for the next datagram.
func (c *conn) deadline() error {
	if c.timeout <= 0 {
		return nil
	}
	return c.s.setReadDeadline(c.now().Add(c.timeout))
}

// request sends m and calls fn for every reply to it until the
// acknowledgement or, for a dump, NLMSG_DONE.
func (c *conn) request(m netlink.Message, fn func(netlink.Message) error) error {
	seq := c.nextSeq()
	m.Header.Sequence = seq
	m.Header.Flags |= netlink.Request | netlink.Acknowledge
	if err := c.s.send([]netlink.Message{m}); err != nil {
		return err
	}
	done := false
	var ferr error
	for !done {
		// Each datagram gets the whole timeout: a dump of a large
		// table lasts as long as the kernel sends and fn consumes.
		if err := c.deadline(); err != nil {
			return err
		}
		n, err := c.s.recv(c.buf, nil)
		if err != nil {
			return err
		}
		err = eachMessage(c.buf[:n], func(r netlink.Message) error {
			if r.Header.Sequence != seq || done {
				return nil // a late answer to an earlier request
			}
			switch r.Header.Type {
			case netlink.Error:
				done = true
				return ackError(r)
			case netlink.Done:
				done = true
				if len(r.Data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(r.Data)); code != 0 {
						return syscall.Errno(-code)
					}
				}
				return nil
			}
			if ferr == nil {
				// Keep reading to the end of the answer even when
				// fn fails, so the next request starts clean.
				ferr = fn(r)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return ferr
}

// nfgen returns the nfgenmsg header of a request for family.
func nfgen(family uint8) []byte {
	return []byte{family, nfnlMsgVersion, 0, 0}
}
