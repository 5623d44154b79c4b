// Package daemonlog is where `ctsync daemon` writes its log: any of a log
// file, syslog and standard error at once, through one slog.Logger.
//
// conntrackd writes its log file and syslog, and in the foreground also
// the console (src/log.c). ctsync runs in the foreground only (systemd or
// another supervisor keeps it), so standard error is always one of the
// sinks when asked for. Unlike conntrackd, the log file can be reopened
// (Reopen, on SIGHUP), so that logrotate can move it away without
// copytruncate.
package daemonlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// FileMode is the log file's permission when ctsync creates it: conntrackd
// sets its umask to 0177 before opening it (src/main.c), so its log file
// is the owner's only, and flows' addresses are not for every local user.
const FileMode os.FileMode = 0o600

// Options say where the log goes. Every sink given is written.
type Options struct {
	// File is a log file, appended to; "" for none.
	File string
	// Syslog, when not nil, sends every record to syslog as well.
	Syslog *SyslogOptions
	// Stderr, when not nil, gets every record too (the console).
	Stderr io.Writer
	// Level is the least level logged; slog.LevelInfo when zero.
	Level slog.Leveler
}

// Log is the daemon's log. Its Logger may be used from any goroutine.
type Log struct {
	*slog.Logger
	// cur holds the sinks in use; Apply replaces them while loggers
	// derived from Logger keep working.
	mu   sync.Mutex
	cur  atomic.Pointer[sinks]
	opts Options
}

// sinks are one set of open sinks and the handler writing to them all.
type sinks struct {
	h      slog.Handler
	file   *reopener
	closer []io.Closer
}

// Open opens the sinks opts names. A log file that cannot be opened is an
// error (conntrackd does not start either: "can't open logfile"); syslog
// is best effort, as it is for conntrackd's openlog, and a failure to
// reach it is returned as warn, to be logged once the other sinks exist.
func Open(opts Options) (l *Log, warn error, err error) {
	s, warn, err := openSinks(opts)
	if err != nil {
		return nil, nil, err
	}
	l = &Log{opts: opts}
	l.cur.Store(s)
	l.Logger = slog.New(&swapHandler{cur: &l.cur})
	return l, warn, nil
}

func openSinks(opts Options) (s *sinks, warn error, err error) {
	level := opts.Level
	if level == nil {
		level = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: level}
	s = &sinks{}
	var hs []slog.Handler
	if opts.File != "" {
		f, err := openFile(opts.File)
		if err != nil {
			return nil, nil, err
		}
		s.file = &reopener{path: opts.File, f: f}
		s.closer = append(s.closer, s.file)
		hs = append(hs, slog.NewTextHandler(s.file, hopts))
	}
	if opts.Syslog != nil {
		h, c, serr := newSyslogHandler(*opts.Syslog, hopts)
		if serr != nil {
			warn = serr
		} else {
			hs = append(hs, h)
			s.closer = append(s.closer, c)
		}
	}
	if opts.Stderr != nil {
		hs = append(hs, slog.NewTextHandler(opts.Stderr, hopts))
	}
	s.h = Fanout(hs...)
	return s, warn, nil
}

func (s *sinks) close() error {
	var errs []error
	for _, c := range s.closer {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Apply moves the log to the sinks opts names (a reload of the
// configuration): the new ones are opened first, then used, then the old
// ones closed. When the new log file cannot be opened nothing changes.
// Options equal to those in use change nothing.
func (l *Log) Apply(opts Options) (warn error, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sameOptions(l.opts, opts) {
		return nil, nil
	}
	s, warn, err := openSinks(opts)
	if err != nil {
		return nil, err
	}
	old := l.cur.Swap(s)
	l.opts = opts
	return warn, old.close()
}

func sameOptions(a, b Options) bool {
	return a.File == b.File && a.Stderr == b.Stderr && a.Level == b.Level &&
		(a.Syslog == nil) == (b.Syslog == nil) && (a.Syslog == nil || *a.Syslog == *b.Syslog)
}

// Reopen reopens the log file at its path, for log rotation: the file
// moved away is closed once the new one is open. Without a log file it
// does nothing. On failure the old file stays in use.
func (l *Log) Reopen() error {
	s := l.cur.Load()
	if s.file == nil {
		return nil
	}
	return s.file.reopen()
}

// Close closes the log file and the syslog connection. Records logged
// afterwards to those sinks are lost.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.Load().close()
}

// swapHandler writes to the sinks in use at each record, with the
// attributes and groups its loggers added.
type swapHandler struct {
	cur *atomic.Pointer[sinks]
	// with replays WithAttrs and WithGroup on the current sinks' handler.
	with []func(slog.Handler) slog.Handler
}

func (h *swapHandler) handler() slog.Handler {
	out := h.cur.Load().h
	for _, w := range h.with {
		out = w(out)
	}
	return out
}

func (h *swapHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.cur.Load().h.Enabled(ctx, level)
}

func (h *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handler().Handle(ctx, r)
}

func (h *swapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &swapHandler{cur: h.cur, with: append(h.with[:len(h.with):len(h.with)], func(x slog.Handler) slog.Handler { return x.WithAttrs(attrs) })}
}

func (h *swapHandler) WithGroup(name string) slog.Handler {
	return &swapHandler{cur: h.cur, with: append(h.with[:len(h.with):len(h.with)], func(x slog.Handler) slog.Handler { return x.WithGroup(name) })}
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("cannot open log file: %w", err)
	}
	return f, nil
}

// reopener is a file writer whose file can be replaced between writes.
type reopener struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (r *reopener) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	return r.f.Write(b)
}

func (r *reopener) reopen() error {
	f, err := openFile(r.path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

func (r *reopener) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Fanout returns a handler that passes each record to every one of hs
// enabled for its level. A sink's failure does not keep the record from
// the others; the errors are joined.
func Fanout(hs ...slog.Handler) slog.Handler {
	return fanout(hs)
}

type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, level slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, level) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithAttrs(attrs)
	}
	return g
}

func (f fanout) WithGroup(name string) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithGroup(name)
	}
	return g
}
