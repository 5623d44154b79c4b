package ctnl

import (
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
)

// Request is one write to the table: of Flow, or of Expect when that is
// set. Flows and expectations mix in one batch; the kernel applies them
// in order, so a master flow created earlier in a batch is there for its
// expectation.
type Request struct {
	Op     Op
	Flow   *Flow
	Expect *Expect
}

// append appends r's payload to dst.
func (r *Request) append(dst []byte) ([]byte, netlink.Header, error) {
	if r.Expect != nil {
		return AppendExpectRequest(dst, r.Op, r.Expect)
	}
	return AppendRequest(dst, r.Op, r.Flow)
}

// String names r's object in messages.
func (r *Request) String() string {
	if r.Expect != nil {
		return fmt.Sprintf("%s expectation %s", r.Op, r.Expect.Tuple)
	}
	return fmt.Sprintf("%s %s", r.Op, r.Flow.Orig)
}

// WriterConfig configures a Writer.
type WriterConfig struct {
	// NetNS is a network namespace file descriptor; 0 is the caller's.
	NetNS int
	// Batch is how many requests go in one sendmsg (default 64, at most
	// 256). Each is acknowledged on its own, so a failure is still told
	// apart; the cap keeps a batch's acknowledgements within the
	// socket's default receive buffer.
	Batch int
	// Timeout bounds the wait for a batch's acknowledgements (default
	// 5s): the kernel always answers, so this only catches a lost
	// socket.
	Timeout time.Duration
}

const maxBatch = 256

// Writer applies requests to the table, pipelined: a batch of messages
// goes in one sendmsg, then every acknowledgement is read and matched to
// its request by sequence number. It is not safe for concurrent use.
type Writer struct {
	c     *conn
	batch int
	arena []byte
	msgs  []netlink.Message
	spans []span
}

type span struct {
	req      int
	off, end int
	h        netlink.Header
}

// NewWriter opens a ctnetlink socket for writing.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	s, err := dialSock(sockConfig{netns: cfg.NetNS, ack: true})
	if err != nil {
		return nil, err
	}
	return newWriter(s, cfg, nil), nil
}

func newWriter(s sock, cfg WriterConfig, now func() time.Time) *Writer {
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	cfg.Batch = min(cfg.Batch, maxBatch)
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Writer{c: newConn(s, cfg.Timeout, now), batch: cfg.Batch}
}

// PortID is the netlink port id of the writer's socket: the events its
// writes cause carry it (Event.PortID).
func (w *Writer) PortID() uint32 { return w.c.s.portID() }

// Close closes the socket.
func (w *Writer) Close() error { return w.c.s.close() }

// Apply applies reqs in order and sets errs[i] to the outcome of reqs[i]
// (nil on success; the kernel's error wraps a unix.Errno, e.g. EEXIST,
// ENOENT). errs must be as long as reqs. The returned error is a failure
// of the socket itself, after which the outcome of the requests not yet
// acknowledged is that error.
func (w *Writer) Apply(reqs []Request, errs []error) error {
	if len(errs) < len(reqs) {
		return fmt.Errorf("apply: %d requests but room for %d outcomes", len(reqs), len(errs))
	}
	for start := 0; start < len(reqs); start += w.batch {
		end := min(start+w.batch, len(reqs))
		if err := w.applyBatch(reqs[start:end], errs[start:end]); err != nil {
			for i := end; i < len(reqs); i++ {
				errs[i] = err
			}
			return err
		}
	}
	return nil
}

func (w *Writer) applyBatch(reqs []Request, errs []error) error {
	w.arena, w.msgs, w.spans = w.arena[:0], w.msgs[:0], w.spans[:0]
	for i := range reqs {
		errs[i] = nil
		off := len(w.arena)
		var h netlink.Header
		var err error
		w.arena, h, err = reqs[i].append(w.arena)
		if err != nil {
			errs[i] = err
			continue
		}
		h.Sequence = w.c.nextSeq()
		w.spans = append(w.spans, span{req: i, off: off, end: len(w.arena), h: h})
	}
	if len(w.spans) == 0 {
		return nil
	}
	// Slices of the arena are taken once it has stopped growing.
	for _, s := range w.spans {
		w.msgs = append(w.msgs, netlink.Message{Header: s.h, Data: w.arena[s.off:s.end:s.end]})
	}
	pending, next := len(w.spans), 0
	fail := func(err error) error {
		for _, s := range w.spans {
			if s.h.Sequence != 0 {
				errs[s.req] = err
			}
		}
		return err
	}
	if err := w.c.deadline(); err != nil {
		return fail(err)
	}
	if err := w.c.s.send(w.msgs); err != nil {
		return fail(fmt.Errorf("send %d requests: %w", len(w.msgs), err))
	}
	for pending > 0 {
		n, err := w.c.s.recv(w.c.buf, nil)
		if err != nil {
			return fail(fmt.Errorf("read acknowledgements (%d of %d missing): %w", pending, len(w.spans), err))
		}
		err = eachMessage(w.c.buf[:n], func(m netlink.Message) error {
			if m.Header.Type != netlink.Error {
				return nil
			}
			seq, ok := ackedSeq(m)
			if !ok || seq == 0 {
				return nil
			}
			// The kernel answers in order, so the search starts
			// after the last answer.
			var s *span
			for j := range w.spans {
				if k := (next + j) % len(w.spans); w.spans[k].h.Sequence == seq {
					s, next = &w.spans[k], k+1
					break
				}
			}
			if s == nil {
				return nil // not for this batch, or answered already
			}
			if err := ackError(m); err != nil {
				errs[s.req] = fmt.Errorf("%s: %w", &reqs[s.req], err)
			}
			s.h.Sequence = 0 // mark answered
			pending--
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}
	return nil
}
