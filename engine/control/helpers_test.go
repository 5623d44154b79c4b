package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fake is a Handler that records its calls and plays a script.
type fake struct {
	mu    sync.Mutex
	calls []string

	err      error         // returned by every call
	steps    int           // progress reports of commit and resync
	lines    int           // lines of dump (-1: until emit fails)
	line     []byte        // the dump line; a numbered one when nil
	block    chan struct{} // when set, commit waits for it (or ctx)
	entered  chan struct{} // when set, commit signals it has started
	emitted  int           // lines dump has emitted
	ctxErr   chan error    // when set, dump and commit send ctx's cause when they end
	panicMsg string

	readiness Readiness // what ready answers
}

func (f *fake) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fake) Emitted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.emitted
}

func (f *fake) report(ctx context.Context, stage string, progress func(Progress)) error {
	for i := 1; i <= f.steps; i++ {
		progress(Progress{Stage: stage, Done: int64(i), Total: int64(f.steps)})
	}
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			if f.ctxErr != nil {
				f.ctxErr <- context.Cause(ctx)
			}
			return ctx.Err()
		}
	}
	return f.err
}

func (f *fake) Commit(ctx context.Context, progress func(Progress)) error {
	f.record("commit")
	return f.report(ctx, "commit", progress)
}

func (f *fake) Flush(ctx context.Context, cache Cache) error {
	f.record(fmt.Sprintf("flush %q", cache))
	return f.err
}

func (f *fake) Resync(ctx context.Context, kernel bool, progress func(Progress)) error {
	f.record(fmt.Sprintf("resync kernel=%v", kernel))
	return f.report(ctx, "resync", progress)
}

func (f *fake) Bulk(ctx context.Context) error   { f.record("bulk"); return f.err }
func (f *fake) Purge(ctx context.Context) error  { f.record("purge"); return f.err }
func (f *fake) Reload(ctx context.Context) error { f.record("reload"); return f.err }

func (f *fake) Stats(ctx context.Context, format Format, emit Emit) error {
	f.record("stats " + string(format))
	if format == JSON {
		if err := emit([]byte(`{"internal": {"entries": 2},` + "\n" + `"external": {"entries": 1}}`)); err != nil {
			return err
		}
		return f.err
	}
	for _, l := range []string{"cache internal:", "current active connections:\t\t2"} {
		if err := emit([]byte(l)); err != nil {
			return err
		}
	}
	return f.err
}

func (f *fake) Dump(ctx context.Context, cache Cache, format Format, emit Emit) error {
	f.record(fmt.Sprintf("dump %s %s", cache, format))
	var err error
	buf := make([]byte, 0, 128)
	for i := 0; f.lines < 0 || i < f.lines; i++ {
		l := f.line
		if l == nil {
			if format == JSON {
				buf = fmt.Appendf(buf[:0], `{"n":%d}`, i)
			} else {
				buf = fmt.Appendf(buf[:0], "tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.%d sport=%d dport=80 [ASSURED]", i%250, i%65536)
			}
			l = buf
		}
		if err = emit(l); err != nil {
			break
		}
		f.mu.Lock()
		f.emitted++
		f.mu.Unlock()
	}
	if f.ctxErr != nil {
		<-ctx.Done() // the server must cancel a dump whose client is gone
		f.ctxErr <- context.Cause(ctx)
	}
	if err != nil {
		return err
	}
	return f.err
}

// socketPath returns a path for a socket in a fresh directory. It is
// short: t.TempDir's names grow with the test's, beyond the 107 bytes a
// socket path holds.
func socketPath(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// logBuffer is a logger's output, safe to read while the server writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testServer struct {
	*Server
	path string
	log  *logBuffer
}

// serve runs a server on a fresh socket until the test ends, and checks
// then that Serve returned cleanly.
func serve(t testing.TB, h Handler, o Options) *testServer {
	t.Helper()
	path := socketPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := NewServer(h, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return &testServer{Server: s, path: path, log: logs}
}

// exchange writes raw bytes as a client, then closes its writing side
// unless stall, and returns everything the server answers until it
// closes.
func exchange(t testing.TB, path string, raw []byte, stall bool) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(raw) > 0 {
		if _, err := c.Write(raw); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.Logf("write: %v", err) // the server may close first on a long request
		}
	}
	// Done sending, as a client that gives up does; the server sees the
	// end of its input.
	if !stall {
		c.(*net.UnixConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil && len(out) == 0 {
		t.Logf("read: %v", err)
	}
	return string(out)
}

// collect is a response as a client sees it.
type collect struct {
	progress []Progress
	data     []string
}

func (c *collect) do(ctx context.Context, path string, req Request) error {
	return Run(ctx, path, req,
		func(p Progress) { c.progress = append(c.progress, p) },
		func(b []byte) error { c.data = append(c.data, string(b)); return nil })
}
