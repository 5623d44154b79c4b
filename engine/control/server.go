package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler carries out the commands; the engine implements it. A server
// calls it from one goroutine per client, so calls may run concurrently:
// whether two commits may overlap, or a flush during a commit, is the
// handler's decision (conntrackd refuses a flush while a commit runs).
//
// ctx is cancelled when the client goes away, stops reading, or the server
// shuts down. An operation that must not stop half-way may finish anyway;
// a dump should stop, and Emit tells it so by returning an error.
type Handler interface {
	Commit(ctx context.Context, progress func(Progress)) error
	// Flush empties the internal, the external or, for "", both caches.
	Flush(ctx context.Context, cache Cache) error
	// Resync asks the peer for its table or, with kernel, reloads the
	// internal cache from the kernel.
	Resync(ctx context.Context, kernel bool, progress func(Progress)) error
	Bulk(ctx context.Context) error
	Purge(ctx context.Context) error
	Reload(ctx context.Context) error
	// Stats and Dump write their output through emit, one data line per
	// call: a line of text without its newline, or one JSON value, as
	// format says. emit returns an error once the client is gone; the
	// handler should then return.
	Stats(ctx context.Context, format Format, emit Emit) error
	Dump(ctx context.Context, cache Cache, format Format, emit Emit) error

	// The methods below serve conntrackd's command line (`-c ct`,
	// `-R expect`, `-i expect`, `-s SECTION`, `-F`): a request without
	// a table or section goes to the methods above.

	// CommitTable writes one table of the external cache into the
	// kernel: its conntracks or its expectations.
	CommitTable(ctx context.Context, table Table, progress func(Progress)) error
	// ResyncKernel reloads one table of the internal cache from the
	// kernel.
	ResyncKernel(ctx context.Context, table Table, progress func(Progress)) error
	// DumpExpect lists the expectations of a cache; format may be XML
	// for Dump too.
	DumpExpect(ctx context.Context, cache Cache, format Format, emit Emit) error
	// StatsSection writes one section of the statistics, as text.
	StatsSection(ctx context.Context, section Section, emit Emit) error
	// FlushKernel deletes from the kernel's table the flows the filter
	// accepts (Conntracks), every expectation (Expectations), or both
	// (the zero Table).
	FlushKernel(ctx context.Context, table Table) error

	// ResyncWait asks the peer for its table, as Resync does, and
	// returns once all of it has arrived, reporting the flows received
	// meanwhile, or when ctx is done.
	ResyncWait(ctx context.Context, progress func(Progress)) error
	// Readiness says whether this node holds a complete copy of its
	// peer's state.
	Readiness(ctx context.Context) (Readiness, error)
}

// Emit sends one data line. It may be called from any goroutine until the
// handler method returns. It does not keep line.
type Emit func(line []byte) error

// Options tune a Server. Zero fields take the defaults.
type Options struct {
	Logger           *slog.Logger     // default: discard
	MaxRequest       int              // bytes in a request line; DefaultMaxRequest
	MaxLine          int              // bytes in a data line; DefaultMaxLine
	MaxClients       int              // clients served at once; DefaultMaxClients
	ReadTimeout      time.Duration    // to receive the request; DefaultReadTimeout
	WriteTimeout     time.Duration    // for a client to take a write; DefaultWriteTimeout
	ProgressInterval time.Duration    // between progress lines; DefaultProgressInterval
	Now              func() time.Time // the clock that spaces progress lines and refusal warnings; time.Now (deadlines use the real one)
	// Stop is called for the stop command: it tells the server's owner
	// to shut down (the daemon, as on SIGTERM) and returns at once, so
	// that the client gets its result first. Nil: stop is refused, since
	// the handler is no process to stop.
	Stop func() error
}

// Defaults of Options.
const (
	DefaultMaxClients = 16
	// A client sends its request right after connecting; one that has
	// not within this time is stuck or hostile.
	DefaultReadTimeout = 5 * time.Second
	// A client that reads nothing for this long (a dump piped into a
	// pager left alone) is cut off, so that it does not hold a handler,
	// and whatever the handler holds, forever.
	DefaultWriteTimeout = 30 * time.Second
	// Progress is for a human watching a terminal: a few lines a second.
	DefaultProgressInterval = 200 * time.Millisecond
)

// ServerStats counts what a server has seen since it was made.
type ServerStats struct {
	Accepted     uint64 // connections accepted
	Succeeded    uint64 // operations that succeeded
	Failed       uint64 // operations that failed (or panicked)
	Malformed    uint64 // refused: not a request of this protocol
	TooLarge     uint64 // refused: longer than MaxRequest
	Unsupported  uint64 // refused: other version, unknown command or arguments
	Timeouts     uint64 // refused: not received within ReadTimeout
	Busy         uint64 // refused: MaxClients already served
	Disconnected uint64 // client gone, not reading or sending more before its result (also counted above)
}

type counters struct {
	accepted, succeeded, failed, malformed, tooLarge, unsupported, timeouts, busy, disconnected atomic.Uint64
}

// Server answers control requests with a Handler. It holds no global
// state; several may run in one process.
type Server struct {
	h    Handler
	o    Options
	log  *slog.Logger
	c    counters
	slot chan struct{}
	// refusals spaces the log lines about refused clients.
	refusals refusalLog
}

// NewServer returns a server that passes requests to h.
func NewServer(h Handler, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxRequest <= 0 {
		o.MaxRequest = DefaultMaxRequest
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{h: h, o: o, log: o.Logger.With("component", "control"), slot: make(chan struct{}, o.MaxClients)}
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Accepted: s.c.accepted.Load(), Succeeded: s.c.succeeded.Load(), Failed: s.c.failed.Load(),
		Malformed: s.c.malformed.Load(), TooLarge: s.c.tooLarge.Load(), Unsupported: s.c.unsupported.Load(),
		Timeouts: s.c.timeouts.Load(), Busy: s.c.busy.Load(), Disconnected: s.c.disconnected.Load(),
	}
}

// Serve accepts clients on l until ctx is cancelled or l fails, then
// closes l, cancels the requests in progress and returns once every
// handler call has returned. It returns nil after ctx was cancelled.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Out of descriptors and the like pass; back off as
			// net/http does rather than spin.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("control: accept: %w", err)
		}
		delay = 0
		s.c.accepted.Add(1)
		select {
		case s.slot <- struct{}{}:
		default:
			s.c.busy.Add(1)
			s.warnRefused("request refused", "code", CodeBusy, "clients", s.o.MaxClients)
			s.refuse(c, &RequestError{Code: CodeBusy, Msg: fmt.Sprintf("busy: %d clients are being served; try again", s.o.MaxClients)})
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slot }()
			s.serveConn(ctx, c)
		}()
	}
}

// isTemporary reports errors after which accepting again may succeed.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// refuse writes an error result; the client may already be gone, which
// is not worth more than the count already made.
func (s *Server) refuse(c net.Conn, e *RequestError) {
	c.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
	c.Write(appendResult(nil, result{Code: e.Code, Error: e.Msg}))
}

var (
	errClientGone  = errors.New("control: client closed the connection")
	errClientBytes = errors.New("control: client sent data after its request")
)

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	// A stop (SIGTERM) must not wait out the time-outs of a client that
	// sends nothing or reads nothing: a pending read ends now, a pending
	// write gets a short grace to take what it can.
	dl := &stopDeadline{stopping: ctx}
	defer context.AfterFunc(ctx, func() {
		c.SetReadDeadline(time.Now())
		dl.set(c, shutdownGrace)
	})()
	c.SetReadDeadline(time.Now().Add(s.o.ReadTimeout))
	req, err := ReadRequest(c, s.o.MaxRequest)
	if err != nil {
		if ctx.Err() != nil {
			s.refuse(c, &RequestError{Code: CodeUnavailable, Msg: "daemon shutting down"})
			return
		}
		s.refused(c, err)
		return
	}
	c.SetReadDeadline(time.Time{})

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The client sends nothing after its request, so a read returns
	// only when it goes away (or misbehaves): that is how a handler
	// learns to stop a dump nobody reads. A client must therefore not
	// shut down its writing side before the result.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var b [1]byte
		if n, _ := c.Read(b[:]); n > 0 {
			cancel(errClientBytes)
			return
		}
		cancel(errClientGone)
	}()
	defer func() { c.Close(); <-watched }()

	w := &writer{s: s, c: c, cancel: cancel, format: req.format(), next: s.o.Now(), dl: dl}
	start := time.Now()
	err = s.call(ctx, req, w)
	w.close()
	log := s.log.With("command", req.Command, "duration", time.Since(start).Round(time.Microsecond))
	res := result{OK: true}
	switch {
	case err != nil && parent.Err() != nil:
		s.c.failed.Add(1)
		res = result{Code: CodeUnavailable, Error: "daemon shutting down: " + err.Error()}
		log.Warn("request cut short by shutdown", "err", err)
	case err != nil && clientLeft(context.Cause(ctx)):
		// `ctsync dump | head`: the client closed the connection, as
		// it may. Nothing failed, and nobody waits for the result.
		s.c.disconnected.Add(1)
		log.Debug("client left; request cancelled", "err", err)
		return
	case err != nil:
		s.c.failed.Add(1)
		res = result{Code: CodeFailed, Error: err.Error()}
		var re *RequestError
		if errors.As(err, &re) {
			res.Code = re.Code
		}
		log.Warn("request failed", "err", err)
	case req.Command == Stats || req.Command == Dump || req.Command == Ready:
		// Monitoring polls these; a log line each would bury the rest.
		s.c.succeeded.Add(1)
		log.Debug("request done")
	default:
		s.c.succeeded.Add(1)
		log.Info("request done")
	}
	if werr := w.result(res, context.Cause(ctx)); werr != nil {
		// Nobody to tell: the result could not arrive.
		s.c.disconnected.Add(1)
		log.Warn("client went away before the result", "err", werr)
	}
}

// clientLeft reports a request's context ended because its client
// closed the connection (not because it stopped reading, or misbehaved).
func clientLeft(cause error) bool {
	return errors.Is(cause, errClientGone) || errors.Is(cause, syscall.EPIPE) || errors.Is(cause, syscall.ECONNRESET)
}

// refused counts and logs a request that never reached the handler, and
// tells the client why when it is still there.
func (s *Server) refused(c net.Conn, err error) {
	var re *RequestError
	switch {
	case errors.As(err, &re):
	case errors.Is(err, io.EOF):
		s.log.Debug("client left without a request")
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		re = &RequestError{Code: CodeTimeout, Msg: fmt.Sprintf("no request within %s", s.o.ReadTimeout)}
	default:
		s.c.disconnected.Add(1)
		s.warnRefused("reading request", "err", err)
		return
	}
	switch re.Code {
	case CodeMalformed:
		s.c.malformed.Add(1)
	case CodeTooLarge:
		s.c.tooLarge.Add(1)
	case CodeTimeout:
		s.c.timeouts.Add(1)
	default:
		s.c.unsupported.Add(1)
	}
	s.warnRefused("request refused", "code", re.Code, "err", re.Msg)
	s.refuse(c, re)
}

// call runs the handler method for req. A panic in the handler is a bug
// in the engine, but not one that should take the daemon down from its
// control socket: it fails the request and is logged with its stack.
func (s *Server) call(ctx context.Context, req Request, w *writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panicked", "command", req.Command, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s: %v", req.Command, p)
		}
	}()
	h := s.h
	switch req.Command {
	case Commit:
		if req.Table != "" {
			return h.CommitTable(ctx, req.Table, w.progress)
		}
		return h.Commit(ctx, w.progress)
	case Flush:
		return h.Flush(ctx, req.Cache)
	case Resync:
		if req.Table != "" {
			return h.ResyncKernel(ctx, req.Table, w.progress)
		}
		if req.Wait {
			return h.ResyncWait(ctx, w.progress)
		}
		return h.Resync(ctx, req.Kernel, w.progress)
	case Bulk:
		return h.Bulk(ctx)
	case Purge:
		return h.Purge(ctx)
	case Reload:
		return h.Reload(ctx)
	case Stats:
		if req.Section != "" {
			return h.StatsSection(ctx, req.Section, w.emit)
		}
		return h.Stats(ctx, req.format(), w.emit)
	case Dump:
		if req.Table == Expectations {
			return h.DumpExpect(ctx, req.Cache, req.format(), w.emit)
		}
		return h.Dump(ctx, req.Cache, req.format(), w.emit)
	case FlushKernel:
		return h.FlushKernel(ctx, req.Table)
	case Ready:
		r, err := h.Readiness(ctx)
		if err != nil {
			return err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return w.emit(b)
	case Stop:
		if s.o.Stop == nil {
			return &RequestError{Code: CodeUnknown, Msg: "stop: this server has no process to stop"}
		}
		return s.o.Stop()
	}
	return fmt.Errorf("command %q has no handler", req.Command)
}

// flushAt is how much a writer buffers before writing: lines go out in
// batches, yet memory stays bounded whatever the size of a dump.
const flushAt = 32 << 10

// writer frames a handler's output into response lines. Handlers may
// call emit and progress from other goroutines, hence the mutex.
type writer struct {
	s      *Server
	c      net.Conn
	cancel context.CancelCauseFunc
	format Format
	dl     *stopDeadline

	mu     sync.Mutex
	buf    []byte
	werr   error // the first write error; the client is gone
	closed bool
	next   time.Time // when the next progress line may go
	last   *Progress // a progress line held back by the interval
	begun  bool      // a progress report came
	stage  string    // of the last progress report
	ended  bool      // the stage's completing report went
}

// shutdownGrace is how long a client may take a write once the server
// is stopping.
const shutdownGrace = time.Second

// stopDeadline sets a connection's write deadline, shortened to
// shutdownGrace once stopping is done. The lock orders a write's
// deadline with the one the stop sets, so that neither undoes the other.
type stopDeadline struct {
	mu       sync.Mutex
	stopping context.Context
}

// set gives the next write timeout, at most shutdownGrace when stopping.
func (d *stopDeadline) set(c net.Conn, timeout time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping.Err() != nil {
		timeout = min(timeout, shutdownGrace)
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
}

var errReturned = errors.New("control: emit after the handler returned")

func (w *writer) emit(line []byte) error {
	if len(line) > w.s.o.MaxLine {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrLineTooLong, len(line), w.s.o.MaxLine)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if w.format == JSON {
		b, err := appendJSONData(w.buf, line)
		if err != nil {
			return err
		}
		w.buf = b
	} else {
		w.buf = appendTextData(w.buf, line)
	}
	if len(w.buf) >= flushAt {
		w.flush()
	}
	return w.werr
}

func (w *writer) progress(p Progress) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.usable() != nil {
		return
	}
	now := w.s.o.Now()
	// A stage's first report and the one that completes it pass the
	// interval, after the held-back report of the stage before: a
	// display must see each stage end, with its count, before the next
	// begins (a commit's flows, then its expectations).
	newStage := !w.begun || p.Stage != w.stage
	if newStage {
		w.begun, w.stage, w.ended = true, p.Stage, false
	}
	ends := !w.ended && p.Total > 0 && p.Done >= p.Total
	if !newStage && !ends && now.Before(w.next) {
		w.last = &p
		return
	}
	if w.last != nil && w.last.Stage != p.Stage {
		w.buf = appendProgress(w.buf, *w.last)
	}
	w.ended = w.ended || ends
	w.next = now.Add(w.s.o.ProgressInterval)
	w.last = nil
	w.buf = appendProgress(w.buf, p)
	w.flush()
}

func (w *writer) usable() error {
	switch {
	case w.closed:
		return errReturned
	case w.werr != nil:
		return w.werr
	}
	return nil
}

// flush writes the buffer. A failed write means the client is gone or
// not reading: the handler's context is cancelled.
func (w *writer) flush() {
	if len(w.buf) == 0 || w.werr != nil {
		return
	}
	w.dl.set(w.c, w.s.o.WriteTimeout)
	if _, err := w.c.Write(w.buf); err != nil {
		w.werr = err
		w.cancel(fmt.Errorf("control: writing to client: %w", err))
	}
	w.buf = w.buf[:0]
	if cap(w.buf) > 2*flushAt {
		w.buf = nil // one huge line must not stay allocated
	}
}

// close ends the handler's turn: later emits fail. The last progress
// held back is sent, so a client sees where the operation ended.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.last != nil && w.werr == nil {
		w.buf = appendProgress(w.buf, *w.last)
	}
}

// result sends the result line unless the client is known to be gone
// (cause is why the request's context ended, if it did), and returns why
// it could not be delivered.
func (w *writer) result(r result, cause error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.werr == nil && (errors.Is(cause, errClientGone) || errors.Is(cause, errClientBytes)) {
		w.werr = cause
	}
	w.buf = appendResult(w.buf, r)
	w.flush()
	return w.werr
}
