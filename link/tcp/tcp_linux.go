// Package tcp is the TCP sync link, as conntrackd's src/tcp.c and
// src/channel_tcp.c: each node listens on (Local, Port) and connects to
// (Peer, Port); it sends only on the connection it initiated and receives
// only on the one it accepted, so a healthy pair has two connections.
//
// There is no framing: the stream is messages back to back, cut by the
// length field of each header. The listener keeps one accepted connection,
// a newer one replacing it. The client reconnects in the background with a
// backoff of at most a second (conntrackd retries once a second); datagrams
// that cannot be sent are parked in a bounded error queue, oldest dropped,
// and sent in order before the next datagram once connected again.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link"
)

func init() {
	link.RegisterTransport(config.TransportTCP, func(s config.LinkSettings) (link.Link, error) { return Open(s) })
}

// ErrNotConnected is returned by Send while the outbound connection is
// down; the datagram was parked in the error queue.
var ErrNotConnected = errors.New("not connected")

const (
	// DefaultErrorQueueLength is conntrackd's ErrorQueueLength default.
	DefaultErrorQueueLength = 128
	minBackoff              = 50 * time.Millisecond
	maxBackoff              = time.Second
	dialTimeout             = time.Second
	// writeTimeout bounds a send to a peer that stopped reading; the
	// connection is then dropped since a partial write breaks the stream.
	writeTimeout = time.Second
)

// Link is a TCP sync link.
type Link struct {
	link.Info
	ln     *net.TCPListener
	peer   netip.AddrPort
	dialer net.Dialer
	ns     *netns
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	inMu    sync.Mutex
	in      net.Conn
	inReady chan struct{}
	split   *splitter
	last    net.Conn // connection the splitter's bytes came from; Recv only

	outMu sync.Mutex
	out   net.Conn
	queue errorQueue
}

// Open opens a TCP link in the calling thread's network namespace: it
// listens at once and connects in the background.
func Open(s config.LinkSettings) (*Link, error) {
	l, err := open(s)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", s.Name, err)
	}
	return l, nil
}

func open(s config.LinkSettings) (*Link, error) {
	u, err := link.ResolveUnicast(s, "tcp")
	if err != nil {
		return nil, err
	}
	ns, err := currentNetns()
	if err != nil {
		return nil, err
	}
	qlen := s.ErrorQueueLength
	if qlen <= 0 {
		qlen = DefaultErrorQueueLength
	}
	l := &Link{
		peer:    u.Peer,
		ns:      ns,
		inReady: make(chan struct{}, 1),
		split:   newSplitter(),
		queue:   errorQueue{bufs: make([][]byte, qlen)},
		dialer: net.Dialer{
			Timeout: dialTimeout,
			Control: link.SocketOptions{SendBuffer: s.SendBuffer, Device: s.Interface}.Control,
		},
	}
	l.Init(s.Name, u.Interface, link.StreamOverhead)
	lc := net.ListenConfig{Control: link.SocketOptions{
		ReuseAddr:     true,
		KeepAlive:     true,
		ReceiveBuffer: s.ReceiveBuffer,
		Device:        s.Interface,
	}.Control}
	ln, err := lc.Listen(context.Background(), u.Network, u.Local.String())
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	l.ln = ln.(*net.TCPListener)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(2)
	go l.accept()
	go l.connect()
	return l, nil
}

// accept keeps the newest inbound connection, closing the one it replaces.
func (l *Link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.Counters().RecvError()
			if sleep(l.ctx, minBackoff) != nil {
				return
			}
			continue
		}
		l.inMu.Lock()
		old := l.in
		l.in = c
		l.inMu.Unlock()
		if old != nil {
			old.Close()
		}
		select {
		case l.inReady <- struct{}{}:
		default:
		}
	}
}

// connect keeps the outbound connection up. The peer never writes on it,
// so a read returning is the connection ending.
func (l *Link) connect() {
	defer l.wg.Done()
	backoff := minBackoff
	for l.ctx.Err() == nil {
		var c net.Conn
		err := l.ns.do(func() error {
			var err error
			c, err = l.dialer.DialContext(l.ctx, "tcp", l.peer.String())
			return err
		})
		if err != nil {
			if sleep(l.ctx, backoff) != nil {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		l.outMu.Lock()
		if l.ctx.Err() != nil {
			l.outMu.Unlock()
			c.Close()
			return
		}
		l.out = c
		l.outMu.Unlock()
		io.Copy(io.Discard, c)
		l.outMu.Lock()
		if l.out == c {
			l.out = nil
		}
		l.outMu.Unlock()
		c.Close()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Send implements link.Link. Parked datagrams go first, in order.
func (l *Link) Send(b []byte) error {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	if l.out == nil {
		l.park(b)
		return fmt.Errorf("link %s: send: %w", l.Name(), ErrNotConnected)
	}
	for l.queue.n > 0 {
		if err := l.write(l.queue.peek()); err != nil {
			l.park(b)
			return err
		}
		l.queue.pop()
	}
	if err := l.write(b); err != nil {
		l.park(b)
		return err
	}
	return nil
}

func (l *Link) park(b []byte) {
	l.Counters().SendError()
	if l.queue.push(b) {
		l.Counters().AddLost(1)
	}
}

// write sends one datagram; on failure it drops the connection, which the
// connector notices and replaces. Called with outMu held.
func (l *Link) write(b []byte) error {
	c := l.out
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.Write(b)
	if err != nil {
		c.Close()
		l.out = nil
		return fmt.Errorf("link %s: send: %w", l.Name(), err)
	}
	l.Counters().Sent(n)
	return nil
}

// Recv implements link.Link: it returns one or more whole messages.
func (l *Link) Recv(buf []byte) (int, error) {
	for {
		n, err := l.split.next(buf)
		if errors.Is(err, errCorrupt) {
			// Nothing after a bad length can be trusted; the peer
			// reconnects and starts a clean stream.
			l.Counters().AddMalformed(1)
			l.Counters().RecvError()
			l.dropIn(l.last)
			l.split.reset()
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("link %s: receive: %w", l.Name(), err)
		}
		if n > 0 {
			l.Counters().Received(n)
			return n, nil
		}
		l.inMu.Lock()
		c := l.in
		l.inMu.Unlock()
		if c == nil {
			select {
			case <-l.inReady:
				continue
			case <-l.ctx.Done():
				return 0, fmt.Errorf("link %s: receive: %w", l.Name(), net.ErrClosed)
			}
		}
		if c != l.last {
			l.split.reset()
			l.last = c
		}
		m, err := c.Read(l.split.tail())
		l.split.wrote(m)
		if err != nil {
			if l.ctx.Err() != nil {
				return 0, fmt.Errorf("link %s: receive: %w", l.Name(), net.ErrClosed)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				l.Counters().RecvError()
			}
			l.dropIn(c)
		}
	}
}

func (l *Link) dropIn(c net.Conn) {
	if c == nil {
		return
	}
	l.inMu.Lock()
	if l.in == c {
		l.in = nil
	}
	l.inMu.Unlock()
	c.Close()
}

// Accepted reports whether a connection from the peer is up.
func (l *Link) Accepted() bool {
	l.inMu.Lock()
	defer l.inMu.Unlock()
	return l.in != nil
}

// Connected reports whether the outbound connection is up.
func (l *Link) Connected() bool {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	return l.out != nil
}

// Close implements link.Link.
func (l *Link) Close() error {
	l.cancel()
	err := l.ln.Close()
	l.inMu.Lock()
	if l.in != nil {
		l.in.Close()
	}
	l.inMu.Unlock()
	l.outMu.Lock()
	if l.out != nil {
		l.out.Close()
	}
	l.outMu.Unlock()
	l.wg.Wait()
	l.ns.close()
	return err
}

// errorQueue is a ring of parked datagrams whose buffers are reused.
type errorQueue struct {
	bufs    [][]byte
	head, n int
}

// push appends a copy of b, dropping the oldest entry when full; it
// reports whether one was dropped.
func (q *errorQueue) push(b []byte) (dropped bool) {
	if q.n == len(q.bufs) {
		q.pop()
		dropped = true
	}
	i := (q.head + q.n) % len(q.bufs)
	q.bufs[i] = append(q.bufs[i][:0], b...)
	q.n++
	return dropped
}

func (q *errorQueue) peek() []byte { return q.bufs[q.head] }

func (q *errorQueue) pop() {
	q.head = (q.head + 1) % len(q.bufs)
	q.n--
}
