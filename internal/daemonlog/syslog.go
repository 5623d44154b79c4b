package daemonlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"sync"
)

// SyslogOptions say how to reach syslog.
type SyslogOptions struct {
	// Facility is a syslog facility (syslog.LOG_DAEMON, LOG_LOCAL0...).
	Facility syslog.Priority
	// Tag names the program in each message; "ctsync" when empty.
	Tag string
	// Network and Addr name the syslog daemon's socket, for tests; empty
	// means the local one (/dev/log).
	Network, Addr string
}

// syslogHandler formats a record as text without time and level (syslog
// records both) and sends it with the severity of its level.
type syslogHandler struct {
	out   *syslogOut
	inner slog.Handler // writes into out.buf
}

// syslogOut is shared by a handler and those derived from it.
type syslogOut struct {
	mu  sync.Mutex
	w   *syslog.Writer
	buf bytes.Buffer
}

func newSyslogHandler(o SyslogOptions, hopts *slog.HandlerOptions) (slog.Handler, io.Closer, error) {
	tag := o.Tag
	if tag == "" {
		tag = "ctsync"
	}
	w, err := syslog.Dial(o.Network, o.Addr, o.Facility|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach syslog (logging there is off): %w", err)
	}
	out := &syslogOut{w: w}
	drop := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}
	inner := slog.NewTextHandler(&out.buf, &slog.HandlerOptions{Level: hopts.Level, ReplaceAttr: drop})
	return &syslogHandler{out: out, inner: inner}, w, nil
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	msg := string(bytes.TrimSuffix(h.out.buf.Bytes(), []byte("\n")))
	w := h.out.w
	switch {
	case r.Level >= slog.LevelError:
		return w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return w.Info(msg)
	}
	return w.Debug(msg)
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syslogHandler{out: h.out, inner: h.inner.WithAttrs(attrs)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{out: h.out, inner: h.inner.WithGroup(name)}
}
