// Package tcp is the TCP sync link, as conntrackd's src/tcp.c and
// src/channel_tcp.c: each node listens on (Local, Port) and connects to
// (Peer, Port); it sends only on the connection it initiated and receives
// only on the one it accepted, so a healthy pair has two connections.
//
// There is no framing: the stream is messages back to back, cut by the
// length field of each header. The listener reads one accepted connection
// at a time; a newer one replaces it, but only once the old one is read to
// its end (or has been silent for drainIdle), since a sender whose write
// timed out closes its connection with data still queued and sends the
// rest on a new one. The client reconnects in the background, at most once
// per minBackoff and backing off up to a second (conntrackd retries once a
// second) while connections keep ending at once; datagrams that cannot be
// sent are parked in a bounded error queue, oldest dropped, and sent in
// order before the next datagram once connected again.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ctsync/ctsync/link/internal/transport"
)

// Config is what a TCP link is opened from: the keywords of conntrackd's
// TCP section.
type Config struct {
	// Name names the link in errors and status.
	Name string
	// Interface is the dedicated interface ("" for none): the listener
	// and the outbound connection are bound to it, and it scopes
	// link-local IPv6 addresses.
	Interface string
	// Local is the address to listen on (zero: the unspecified address
	// of Peer's family); Peer is where to connect, and its family is the
	// link's. Both ends use Port.
	Local, Peer netip.Addr
	Port        uint16
	// SendBuffer and ReceiveBuffer are the socket buffer sizes in bytes;
	// 0 keeps the system default.
	SendBuffer, ReceiveBuffer uint64
	// ErrorQueueLength is how many datagrams are parked while the
	// outbound connection is down; 0 means DefaultErrorQueueLength.
	ErrorQueueLength int
}

// ErrNotConnected is returned by Send while the outbound connection is
// down; the datagram was parked in the error queue.
var ErrNotConnected = errors.New("not connected")

const (
	// DefaultErrorQueueLength is conntrackd's ErrorQueueLength default.
	DefaultErrorQueueLength = 128
	// minBackoff is the shortest interval between two dials; the backoff
	// doubles up to maxBackoff while connections fail or last less than
	// stableAfter, so a peer that accepts and closes at once is not
	// flooded.
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = time.Second
	stableAfter = time.Second
	dialTimeout = time.Second
	// writeTimeout bounds a send to a peer that stopped reading; the
	// connection is then dropped since a partial write breaks the stream.
	writeTimeout = time.Second
	// drainIdle is how long the receiver waits for more data on a
	// connection that a newer one is waiting to replace, before it takes
	// the old one for dead (a peer that restarted without closing it).
	drainIdle = time.Second
	// maxPending bounds the accepted connections waiting for the current
	// one to end; beyond it the oldest waiting one is closed.
	maxPending = 8
)

// Link is a TCP sync link; it implements link.Link.
type Link struct {
	transport.Info
	ln     *net.TCPListener
	peer   netip.AddrPort
	dialer net.Dialer
	ns     *netns
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	inMu    sync.Mutex
	in      net.Conn   // connection Recv reads
	pending []net.Conn // accepted since, oldest first, read after in ends
	inReady chan struct{}
	split   *splitter
	last    net.Conn // connection the splitter's bytes came from; Recv only

	outMu sync.Mutex
	out   net.Conn
	queue errorQueue
}

// Open opens a TCP link in the calling thread's network namespace: it
// listens at once and connects in the background.
func Open(c Config) (*Link, error) {
	l, err := open(c)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", c.Name, err)
	}
	return l, nil
}

func open(s Config) (*Link, error) {
	u, err := transport.ResolveUnicast("tcp", s.Interface, s.Local, s.Peer, s.Port)
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
			Control: transport.SocketOptions{SendBuffer: s.SendBuffer, Device: s.Interface}.Control,
		},
	}
	l.Init(s.Name, u.Interface, transport.StreamOverhead)
	lc := net.ListenConfig{Control: transport.SocketOptions{
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

// accept hands inbound connections to Recv in order. A connection accepted
// while another is being read waits until that one ends: the peer opens a
// new connection after a write timed out, and the old one still holds all
// it sent before; closing it unread would lose that silently.
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
		if l.ctx.Err() != nil {
			// Close cancels before it takes inMu to close what it
			// finds, so it may have missed this one.
			l.inMu.Unlock()
			c.Close()
			return
		}
		var dropped net.Conn
		if l.in == nil {
			l.in = c
		} else {
			if len(l.pending) == maxPending {
				dropped = l.pending[0]
				l.pending = l.pending[1:]
			}
			l.pending = append(l.pending, c)
			// Wake a Recv blocked on the old connection if it stays silent.
			l.in.SetReadDeadline(time.Now().Add(drainIdle))
		}
		l.inMu.Unlock()
		if dropped != nil {
			l.Counters().RecvError()
			dropped.Close()
		}
		select {
		case l.inReady <- struct{}{}:
		default:
		}
	}
}

// connect keeps the outbound connection up. The peer never writes on it,
// so a read returning is the connection ending. Dials are at least backoff
// apart; the backoff only resets after a connection that lasted.
func (l *Link) connect() {
	defer l.wg.Done()
	backoff := minBackoff
	var dialed time.Time
	for l.ctx.Err() == nil {
		if wait := time.Until(dialed.Add(backoff)); wait > 0 {
			if sleep(l.ctx, wait) != nil {
				return
			}
		}
		dialed = time.Now()
		var c net.Conn
		err := l.ns.do(func() error {
			var err error
			c, err = l.dialer.DialContext(l.ctx, "tcp", l.peer.String())
			return err
		})
		if err != nil {
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		l.outMu.Lock()
		if l.ctx.Err() != nil {
			l.outMu.Unlock()
			c.Close()
			return
		}
		l.out = c
		// What was parked goes now, not with the next send: an idle
		// sender (ALARM between refreshes) may not send for a minute.
		for l.queue.n > 0 {
			n, err := l.write(l.queue.peek())
			if err != nil {
				l.queue.trim(n)
				break
			}
			l.queue.pop()
		}
		l.outMu.Unlock()
		io.Copy(io.Discard, c)
		l.outMu.Lock()
		if l.out == c {
			l.out = nil
		}
		l.outMu.Unlock()
		c.Close()
		if time.Since(dialed) >= stableAfter {
			backoff = minBackoff
		} else {
			backoff = min(2*backoff, maxBackoff)
		}
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

// Send sends one datagram on the outbound connection. Parked datagrams go first, in order.
func (l *Link) Send(b []byte) error {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	if l.out == nil {
		l.park(b)
		return fmt.Errorf("link %s: send: %w", l.Name(), ErrNotConnected)
	}
	for l.queue.n > 0 {
		if n, err := l.write(l.queue.peek()); err != nil {
			l.queue.trim(n)
			l.park(b)
			return err
		}
		l.queue.pop()
	}
	if n, err := l.write(b); err != nil {
		l.park(b[n:])
		return err
	}
	return nil
}

func (l *Link) park(b []byte) {
	l.Counters().SendError()
	if l.queue.n == len(l.queue.bufs) {
		n, _ := wholeMessages(l.queue.peek())
		l.Counters().AddLost(uint64(n))
	}
	l.queue.push(b)
}

// write sends one datagram; on failure it drops the connection, which the
// connector notices and replaces, and returns the length of the leading
// whole messages the peer still gets. Those are what a timed-out write
// left in the socket: closing it does not discard them, the kernel sends
// them before its FIN, and the peer reads the connection to its end before
// the next one (see accept), dropping the cut message that follows. The
// caller parks the rest, so each message arrives once. Called with outMu
// held.
func (l *Link) write(b []byte) (int, error) {
	c := l.out
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.Write(b)
	if err != nil {
		c.Close()
		l.out = nil
		sent := 0
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_, sent = wholeMessages(b[:n])
		}
		return sent, fmt.Errorf("link %s: send: %w", l.Name(), err)
	}
	l.Counters().Sent(n)
	return n, nil
}

// Recv reads one or more whole messages from the accepted connection.
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
		replaced := len(l.pending) > 0
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
			// A partial message left by the previous connection was
			// cut by the sender's timed-out write; the sender sends it
			// again whole.
			l.split.reset()
			l.last = c
		}
		if replaced {
			c.SetReadDeadline(time.Now().Add(drainIdle))
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

// dropIn closes c and, if Recv was reading it, moves on to the oldest
// waiting connection.
func (l *Link) dropIn(c net.Conn) {
	if c == nil {
		return
	}
	l.inMu.Lock()
	if l.in == c {
		l.in = nil
		if len(l.pending) > 0 {
			l.in = l.pending[0]
			l.pending = l.pending[1:]
		}
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

// Close closes the listener and both connections. Calls after the first return its result
// and do nothing else: the descriptors it closed may belong to others by
// then.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.ln.Close()
		l.inMu.Lock()
		if l.in != nil {
			l.in.Close()
		}
		for _, c := range l.pending {
			c.Close()
		}
		l.pending = nil
		l.inMu.Unlock()
		l.outMu.Lock()
		if l.out != nil {
			l.out.Close()
		}
		l.outMu.Unlock()
		l.wg.Wait()
		l.ns.close()
	})
	return l.closeErr
}
