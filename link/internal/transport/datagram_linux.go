package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagram is the socket pair of conntrackd's datagram channels (src/udp.c,
// src/mcast.c): a receive socket the transport opened its own way (bound to
// its address, joined to its group) and an unbound send socket that sends
// every datagram to one destination. It has the methods of link.Link; the
// UDP and multicast transports embed it and add only how they resolve
// addresses and set up their sockets.
type Datagram struct {
	Info
	recv, send *net.UDPConn
	dst        netip.AddrPort
	// rawRecv and rawSend are the sockets' descriptors for raw system
	// calls (sendRaw, recvRaw); sa is dst as a socket address, nil when dst
	// has a zone, which the net package resolves.
	rawRecv, rawSend syscall.RawConn
	sa               []byte
}

// OpenDatagram opens the send socket of link name with options opts (the
// link's send buffer, checksum and device), in the family of dst, and
// pairs it with recv. setup, if not nil, sets the transport's own options
// on the send socket. ifi is the dedicated interface (nil for none). On
// error OpenDatagram closes recv and what it opened.
func OpenDatagram(name string, ifi *net.Interface, opts SocketOptions, recv *net.UDPConn, dst netip.AddrPort, setup func(send *net.UDPConn) error) (*Datagram, error) {
	d := &Datagram{recv: recv, dst: dst}
	network, unspec, overhead := "udp4", "0.0.0.0:0", DatagramOverhead
	if !dst.Addr().Is4() {
		network, unspec, overhead = "udp6", "[::]:0", DatagramOverhead6
	}
	d.Init(name, ifi, overhead)
	lc := net.ListenConfig{Control: opts.Control}
	pc, err := lc.ListenPacket(context.Background(), network, unspec)
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("send socket: %w", err)
	}
	d.send = pc.(*net.UDPConn)
	if setup != nil {
		if err := setup(d.send); err != nil {
			d.Close()
			return nil, err
		}
	}
	if d.rawRecv, err = recv.SyscallConn(); err == nil {
		d.rawSend, err = d.send.SyscallConn()
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("raw sockets: %w", err)
	}
	d.sa = sockaddr(dst)
	return d, nil
}

// sockaddr is a as a struct sockaddr_in or sockaddr_in6, or nil when it
// has a zone.
func sockaddr(a netip.AddrPort) []byte {
	ip := a.Addr()
	if ip.Is4() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		sa.Port = htons(a.Port())
		return unsafe.Slice((*byte)(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	}
	if ip.Zone() != "" {
		return nil
	}
	sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
	sa.Port = htons(a.Port())
	return unsafe.Slice((*byte)(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
}

// htons puts a port in the network byte order sockaddr_in wants, read
// back in the host's order.
func htons(p uint16) uint16 {
	b := [2]byte{byte(p >> 8), byte(p)}
	return *(*uint16)(unsafe.Pointer(&b))
}

// Send transmits one datagram to the destination.
func (d *Datagram) Send(b []byte) error {
	var n int
	var err error
	if d.sa != nil {
		n, err = d.sendRaw(b)
	} else {
		n, err = d.send.WriteToUDPAddrPort(b, d.dst)
	}
	if err != nil {
		d.Counters().SendError()
		return fmt.Errorf("link %s: send: %w", d.Name(), err)
	}
	d.Counters().Sent(n)
	return nil
}

// Recv reads one datagram into buf.
func (d *Datagram) Recv(buf []byte) (int, error) {
	for {
		n, err := d.recvRaw(buf)
		if err == nil {
			d.Counters().Received(n)
			return n, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return 0, fmt.Errorf("link %s: receive: %w", d.Name(), err)
		}
		// Transient errors (ICMP errors queued on the socket) are
		// counted and the read retried, as conntrackd's loop does.
		d.Counters().RecvError()
	}
}

// sendRaw sends b to d.sa with a raw, non-blocking system call: the
// poller waits when the socket's buffer is full. A send cannot block, so
// the Go scheduler's bookkeeping of a system call (entersyscall,
// exitsyscall, sysmon's retakes of a P, each waking a thread) is not
// needed, and under load it cost more than the send.
func (d *Datagram) sendRaw(b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	err := d.rawSend.Write(func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&d.sa[0])), uintptr(len(d.sa)))
		n, errno = int(r), e
		return e != unix.EAGAIN && e != unix.EINTR
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// recvRaw reads one datagram into buf with a raw, non-blocking system
// call, for the reason sendRaw gives; a longer datagram is cut to buf, as
// a read of the net package cuts it.
func (d *Datagram) recvRaw(buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, errors.New("empty receive buffer")
	}
	var n int
	var errno syscall.Errno
	err := d.rawRecv.Read(func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			unix.MSG_DONTWAIT, 0, 0)
		n, errno = int(r), e
		return e != unix.EAGAIN && e != unix.EINTR
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// Close closes both sockets.
func (d *Datagram) Close() error {
	return errors.Join(d.recv.Close(), d.send.Close())
}
