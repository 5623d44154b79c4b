package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every command reaches its handler method with its arguments, and its
// output and outcome reach the client.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		handler *fake
		call    string
		data    []string
		err     string // the client's error; "" for success
		code    string
	}{
		{name: "commit", req: Request{Command: Commit}, call: "commit"},
		{name: "flush both", req: Request{Command: Flush}, call: `flush ""`},
		{name: "flush internal", req: Request{Command: Flush, Cache: Internal}, call: `flush "internal"`},
		{name: "flush external", req: Request{Command: Flush, Cache: External}, call: `flush "external"`},
		{name: "resync from peer", req: Request{Command: Resync}, call: "resync kernel=false"},
		{name: "resync from kernel", req: Request{Command: Resync, Kernel: true}, call: "resync kernel=true"},
		{name: "bulk", req: Request{Command: Bulk}, call: "bulk"},
		{name: "purge", req: Request{Command: Purge}, call: "purge"},
		{name: "reload", req: Request{Command: Reload}, call: "reload"},
		{name: "stats text", req: Request{Command: Stats}, call: "stats text",
			data: []string{"cache internal:", "current active connections:\t\t2"}},
		{name: "stats json, newline inside the value", req: Request{Command: Stats, Format: JSON}, call: "stats json",
			data: []string{`{"internal":{"entries":2},"external":{"entries":1}}`}},
		{name: "dump internal", req: Request{Command: Dump, Cache: Internal}, handler: &fake{lines: 2}, call: "dump internal text",
			data: []string{
				"tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.0 sport=0 dport=80 [ASSURED]",
				"tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.1 sport=1 dport=80 [ASSURED]"}},
		{name: "dump external json", req: Request{Command: Dump, Cache: External, Format: JSON}, handler: &fake{lines: 2},
			call: "dump external json", data: []string{`{"n":0}`, `{"n":1}`}},
		{name: "dump text with quotes, tabs, control bytes and bad UTF-8",
			req: Request{Command: Dump, Cache: Internal}, handler: &fake{lines: 1, line: []byte("a\"b\\c\td\x01\x7fé\xff")},
			call: "dump internal text", data: []string{"a\"b\\c\td\x01\x7fé\ufffd"}},
		{name: "operation fails", req: Request{Command: Bulk}, handler: &fake{err: errors.New("no link is up")},
			call: "bulk", err: "no link is up", code: CodeFailed},
		{name: "handler refusal keeps its code", req: Request{Command: Flush},
			handler: &fake{err: &RequestError{Code: CodeBusy, Msg: "commit in progress"}},
			call:    `flush ""`, err: "commit in progress", code: CodeBusy},
		{name: "handler panic", req: Request{Command: Commit}, handler: &fake{panicMsg: "nil map"},
			call: "commit", err: "internal error in commit: nil map", code: CodeFailed},
		{name: "dump output after an error", req: Request{Command: Dump, Cache: External}, handler: &fake{lines: 1, err: errors.New("cache disabled")},
			call: "dump external text", data: []string{"tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.0 sport=0 dport=80 [ASSURED]"},
			err: "cache disabled", code: CodeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = &fake{}
			}
			s := serve(t, h, Options{})
			var got collect
			err := got.do(context.Background(), s.path, tt.req)
			if diff := cmp.Diff([]string{tt.call}, h.Calls()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.data, got.data); diff != "" {
				t.Errorf("data lines (-want +got):\n%s", diff)
			}
			checkErr(t, err, tt.code, tt.err)
			st := s.Stats()
			if tt.err == "" && st.Succeeded != 1 || tt.err != "" && st.Failed != 1 {
				t.Errorf("stats %+v, want one request that succeeded=%v", st, tt.err == "")
			}
		})
	}
}

func checkErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if msg == "" {
		if err != nil {
			t.Errorf("got error %v, want none", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error %s %q", err, err, code, msg)
	}
	if e.Code != code || !strings.Contains(e.Msg, msg) {
		t.Errorf("got error %s %q, want %s %q", e.Code, e.Msg, code, msg)
	}
}

// A long commit reports progress a few times, not once per flow, and the
// last report says where it ended.
func TestProgress(t *testing.T) {
	var clock atomic.Int64 // ms; each look at the clock takes 1 ms
	now := func() time.Time { return time.UnixMilli(clock.Add(1)) }
	h := &fake{steps: 1000}
	s := serve(t, h, Options{Now: now, ProgressInterval: 100 * time.Millisecond})
	var got collect
	if err := got.do(context.Background(), s.path, Request{Command: Commit}); err != nil {
		t.Fatal(err)
	}
	n := len(got.progress)
	if n < 3 || n > 1000/100+2 {
		t.Fatalf("got %d progress lines for 1000 steps, 100 ms apart: %v", n, got.progress)
	}
	if want := (Progress{Stage: "commit", Done: 1, Total: 1000}); got.progress[0] != want {
		t.Errorf("first progress %v, want %v", got.progress[0], want)
	}
	if want := (Progress{Stage: "commit", Done: 1000, Total: 1000}); got.progress[n-1] != want {
		t.Errorf("last progress %v, want %v", got.progress[n-1], want)
	}
	for i := 1; i < n; i++ {
		if got.progress[i].Done <= got.progress[i-1].Done {
			t.Errorf("progress goes back: %v", got.progress)
		}
	}
	if got, want := got.progress[n-1].String(), "commit: 1000/1000 (100%)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// A dump of 100,000 flows arrives whole and in order, and the server does
// not run ahead of a client that stops reading: it holds no more than its
// socket and write buffers, not the table.
func TestDumpStreams(t *testing.T) {
	const lines = 100_000
	h := &fake{lines: lines}
	s := serve(t, h, Options{})
	var ahead int
	n := 0
	err := Run(context.Background(), s.path, Request{Command: Dump, Cache: Internal}, nil, func(b []byte) error {
		if n == 0 {
			// Let the handler run as far as the server lets it.
			time.Sleep(300 * time.Millisecond)
			ahead = h.Emitted()
		}
		want := fmt.Sprintf("dst=203.0.113.%d sport=%d ", n%250, n%65536)
		if !strings.Contains(string(b), want) {
			t.Fatalf("line %d is %q, want it to hold %q", n, b, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != lines {
		t.Errorf("got %d lines, want %d", n, lines)
	}
	// A line is about 100 bytes of JSON; socket buffers hold a few
	// hundred kilobytes. A server that buffered the dump would have
	// taken all 10 MB in 300 ms.
	const bound = 4 << 20 / 100
	if ahead > bound {
		t.Errorf("the handler emitted %d lines while the client read none; the server buffers the dump (want at most %d)", ahead, bound)
	}
	t.Logf("lines emitted while the client read none: %d of %d", ahead, lines)
}

// A client that goes away in the middle of a dump cancels it: the
// handler's context ends and emit fails; the server counts it and goes on.
func TestDumpClientGone(t *testing.T) {
	h := &fake{lines: -1, ctxErr: make(chan error, 1)}
	s := serve(t, h, Options{})
	stop := errors.New("enough")
	n := 0
	err := Run(context.Background(), s.path, Request{Command: Dump, Cache: Internal}, nil, func([]byte) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("got %v, want the data function's error", err)
	}
	select {
	case cause := <-h.ctxErr:
		if cause == nil {
			t.Errorf("handler context not cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not cancelled after the client left")
	}
	waitStats(t, s, func(st ServerStats) bool { return st.Disconnected == 1 })
	// `ctsync dump | head` does this each time: nothing failed, and an
	// operator has nothing to act on.
	if st := s.Stats(); st.Failed != 0 {
		t.Errorf("stats %+v: a client that left counted as a failed request", st)
	}
	if l := s.log.String(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
		t.Errorf("a client that left is logged as a problem:\n%s", l)
	}
	checkAlive(t, s)
}

// A client that stops reading is cut off after the write timeout.
func TestClientNotReading(t *testing.T) {
	h := &fake{lines: -1, ctxErr: make(chan error, 1)}
	s := serve(t, h, Options{WriteTimeout: 100 * time.Millisecond})
	c, err := net.Dial("unix", s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"version":1,"command":"dump","cache":"internal"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-h.ctxErr:
		if cause == nil || !strings.Contains(cause.Error(), "writing to client") {
			t.Errorf("handler context ended with %v, want a write failure", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that reads nothing was not cut off")
	}
	waitStats(t, s, func(st ServerStats) bool { return st.Disconnected == 1 })
	checkAlive(t, s)
}

// Bad input of every kind gets a result line saying why, is counted and
// logged, and the server goes on serving.
func TestRefused(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		code  string
		msg   string
		count func(ServerStats) uint64
	}{
		{"garbage bytes", "\x00\xff\xfe\x80garbage\n", CodeMalformed, "malformed request at byte 1: invalid character", func(s ServerStats) uint64 { return s.Malformed }},
		{"not JSON", "stats please\n", CodeMalformed, "malformed request at byte 1: invalid character 's' looking for beginning of value", func(s ServerStats) uint64 { return s.Malformed }},
		{"cut short", `{"version":1,"command":"sta`, CodeMalformed, "connection closed after 27 bytes, before the newline", func(s ServerStats) uint64 { return s.Malformed }},
		{"unfinished object", `{"version":1,` + "\n", CodeMalformed, "malformed request at byte 13: unexpected end", func(s ServerStats) uint64 { return s.Malformed }},
		{"unknown field", `{"version":1,"command":"stats","verbose":true}` + "\n", CodeMalformed, `malformed request at byte 32: unknown field "verbose"`, func(s ServerStats) uint64 { return s.Malformed }},
		{"wrong type", `{"version":"1","command":"stats"}` + "\n", CodeMalformed, "at byte 14: version is string, want int", func(s ServerStats) uint64 { return s.Malformed }},
		{"an array", "[1,2]\n", CodeMalformed, "at byte 1:", func(s ServerStats) uint64 { return s.Malformed }},
		{"two objects", `{"version":1,"command":"stats"} {"version":1,"command":"flush"}` + "\n", CodeMalformed, "at byte 32: data after the request object", func(s ServerStats) uint64 { return s.Malformed }},
		{"bytes after the request", `{"version":1,"command":"stats"}` + "\nmore", CodeMalformed, "4 bytes after the request line", func(s ServerStats) uint64 { return s.Malformed }},
		{"empty line", "\n", CodeMalformed, "empty", func(s ServerStats) uint64 { return s.Malformed }},
		{"oversized", `{"version":1,"command":"` + strings.Repeat("x", 70<<10) + `"}` + "\n", CodeTooLarge, "request larger than 65536 bytes", func(s ServerStats) uint64 { return s.TooLarge }},
		{"oversized without newline", strings.Repeat(" ", 1<<20), CodeTooLarge, "request larger than 65536 bytes", func(s ServerStats) uint64 { return s.TooLarge }},
		{"newer version", `{"version":2,"command":"stats"}` + "\n", CodeVersion, "protocol version 2 is not supported: this daemon speaks version 1", func(s ServerStats) uint64 { return s.Unsupported }},
		{"unknown command", `{"version":1,"command":"kill"}` + "\n", CodeUnknown, `unknown command "kill"; commands are commit, flush, resync, bulk, purge, reload, stats, dump, flush-kernel, stop`, func(s ServerStats) uint64 { return s.Unsupported }},
		{"dump without a cache", `{"version":1,"command":"dump"}` + "\n", CodeInvalid, `dump: cache must be "internal" or "external", got ""`, func(s ServerStats) uint64 { return s.Unsupported }},
		{"argument of another command", `{"version":1,"command":"commit","kernel":true}` + "\n", CodeInvalid, "commit: kernel is only for resync", func(s ServerStats) uint64 { return s.Unsupported }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fake{}
			s := serve(t, h, Options{})
			out := exchange(t, s.path, []byte(tt.raw), false)
			var l struct{ Result result }
			if err := json.Unmarshal([]byte(out), &l); err != nil {
				t.Fatalf("response %q: %v", out, err)
			}
			if l.Result.OK || l.Result.Code != tt.code || !strings.Contains(l.Result.Error, tt.msg) {
				t.Errorf("got result %+v, want code %s and %q", l.Result, tt.code, tt.msg)
			}
			if got := tt.count(s.Stats()); got != 1 {
				t.Errorf("counted %d times, want once: %+v", got, s.Stats())
			}
			if !strings.Contains(s.log.String(), "request refused") {
				t.Errorf("not logged: %q", s.log.String())
			}
			if calls := h.Calls(); len(calls) != 0 {
				t.Errorf("handler called: %v", calls)
			}
			checkAlive(t, s)
		})
	}
}

// A client that connects and sends its request too slowly is refused
// after the read timeout, without holding a slot for longer.
func TestSlowClient(t *testing.T) {
	s := serve(t, &fake{}, Options{ReadTimeout: 100 * time.Millisecond})
	out := exchange(t, s.path, []byte(`{"version":1,`), true)
	if !strings.Contains(out, `"code":"timeout"`) || !strings.Contains(out, "no request within 100ms") {
		t.Errorf("got %q, want a timeout result", out)
	}
	if st := s.Stats(); st.Timeouts != 1 {
		t.Errorf("stats %+v, want one timeout", st)
	}
	checkAlive(t, s)
}

// A connection that closes without a byte (a probe for a live daemon, as
// Listen makes) is not an error.
func TestProbeIsQuiet(t *testing.T) {
	s := serve(t, &fake{}, Options{})
	exchange(t, s.path, nil, false)
	checkAlive(t, s)
	if st := s.Stats(); st != (ServerStats{Accepted: 2, Succeeded: 1}) {
		t.Errorf("stats %+v, want the probe accepted and nothing else", st)
	}
}

// At most MaxClients are served at once; more are told the server is
// busy, and the ones being served finish normally.
func TestBusy(t *testing.T) {
	const max = 4
	h := &fake{block: make(chan struct{}), entered: make(chan struct{}, max)}
	s := serve(t, h, Options{MaxClients: max})
	errs := make(chan error, max)
	for range max {
		go func() { errs <- Run(context.Background(), s.path, Request{Command: Commit}, nil, nil) }()
	}
	for range max {
		<-h.entered
	}
	err := Run(context.Background(), s.path, Request{Command: Stats}, nil, nil)
	checkErr(t, err, CodeBusy, "busy: 4 clients are being served")
	close(h.block)
	for range max {
		if err := <-errs; err != nil {
			t.Errorf("a client being served failed: %v", err)
		}
	}
	if st := s.Stats(); st.Busy != 1 || st.Succeeded != max {
		t.Errorf("stats %+v, want %d served and 1 busy", st, max)
	}
	checkAlive(t, s)
}

// Many clients at once, well beyond the limit: each gets an answer, either
// its result or "busy", and the counts add up.
func TestManyClients(t *testing.T) {
	const clients = 200
	h := &fake{lines: 50}
	s := serve(t, h, Options{MaxClients: 8})
	var wg sync.WaitGroup
	var ok, busy, other atomic.Int64
	for i := range clients {
		wg.Go(func() {
			req := Request{Command: Stats}
			if i%2 == 0 {
				req = Request{Command: Dump, Cache: Internal}
			}
			var e *Error
			switch err := Run(context.Background(), s.path, req, nil, func([]byte) error { return nil }); {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &e) && e.Code == CodeBusy:
				busy.Add(1)
			default:
				other.Add(1)
				t.Errorf("client %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Succeeded != uint64(ok.Load()) || st.Busy != uint64(busy.Load()) || ok.Load()+busy.Load() != clients {
		t.Errorf("clients saw %d ok, %d busy, %d other; server counted %+v", ok.Load(), busy.Load(), other.Load(), st)
	}
	t.Logf("%d served, %d busy", ok.Load(), busy.Load())
	checkAlive(t, s)
}

// Stopping the server cancels the requests in progress, tells their
// clients why, and Serve returns once the handlers have.
func TestShutdown(t *testing.T) {
	h := &fake{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	path := socketPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	res := make(chan error, 1)
	go func() { res <- Run(context.Background(), path, Request{Command: Commit}, nil, nil) }()
	<-h.entered
	cancel()
	checkErr(t, <-res, CodeUnavailable, "daemon shutting down: context canceled")
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if _, err := net.Dial("unix", path); err == nil {
		t.Errorf("still accepting after Serve returned")
	}
}

// A client that holds a connection without sending its request, or
// stops reading a dump, does not hold up the daemon's stop (SIGTERM) for
// the read or write time-out.
func TestShutdownIdleClients(t *testing.T) {
	for _, tt := range []struct {
		name    string
		request string
	}{
		{"no request", ""},
		{"dump not read", `{"version":1,"command":"dump","cache":"internal"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &fake{lines: -1}
			path := socketPath(t)
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer(h, Options{ReadTimeout: time.Hour, WriteTimeout: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, l) }()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			waitStats(t, &testServer{Server: s}, func(st ServerStats) bool { return st.Accepted == 1 })
			time.Sleep(50 * time.Millisecond) // into the read, or the blocked write
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve still waits for an idle client 10s after shutdown")
			}
		})
	}
}

// A client learns that the daemon died before answering, and a line
// longer than its limit is an error, not a huge allocation.
func TestClientErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		max   int
		want  string
	}{
		{"no result", `{"progress":{"done":1}}` + "\n", 0, ErrNoResult.Error()},
		{"not JSON", "hello\n", 0, "response line 1 from"},
		{"line too long", `{"data":"` + strings.Repeat("x", 100) + `"}` + "\n", 64, "longer than 64 bytes"},
		{"unknown line kind then result", `{"warning":"new"}` + "\n" + `{"result":{"ok":true}}` + "\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := socketPath(t)
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				ReadRequest(c, 0)
				c.Write([]byte(tt.reply))
			}()
			c, err := Dial(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.MaxLine = tt.max
			err = c.Do(context.Background(), Request{Command: Stats}, nil, nil)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// The client checks a request before sending it, in the daemon's words,
// and says whom it could not reach.
func TestClientChecks(t *testing.T) {
	err := Run(context.Background(), socketPath(t), Request{Command: Dump, Cache: "both"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "connecting to") || !strings.Contains(err.Error(), "is the daemon running") {
		t.Errorf("got %v, want a connection error naming the socket", err)
	}
	s := serve(t, &fake{}, Options{})
	err = Run(context.Background(), s.path, Request{Command: Dump, Cache: "both"}, nil, nil)
	checkErr(t, err, CodeInvalid, `dump: cache must be "internal" or "external", got "both"`)
	checkAlive(t, s)
	if st := s.Stats(); st != (ServerStats{Accepted: 2, Succeeded: 1}) {
		t.Errorf("stats %+v, want the bad request never sent", st)
	}
}

// Cancelling the client's context cancels the request at the daemon.
func TestClientCancel(t *testing.T) {
	h := &fake{block: make(chan struct{}), entered: make(chan struct{}, 1), ctxErr: make(chan error, 1)}
	s := serve(t, h, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- Run(ctx, s.path, Request{Command: Commit}, nil, nil) }()
	<-h.entered
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if cause := <-h.ctxErr; !errors.Is(cause, errClientGone) {
		t.Errorf("handler context ended with %v, want the client gone", cause)
	}
}

// checkAlive makes a normal request: the server survived what came before.
func checkAlive(t *testing.T, s *testServer) {
	t.Helper()
	var got collect
	if err := got.do(context.Background(), s.path, Request{Command: Stats}); err != nil || len(got.data) != 2 {
		t.Fatalf("the server no longer serves: %v, %q", err, got.data)
	}
}

// waitStats waits for the server's counters to satisfy ok: the server
// counts after the client has seen the connection end.
func waitStats(t *testing.T, s *testServer, ok func(ServerStats) bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if ok(s.Stats()) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stats %+v", s.Stats())
}

// Bytes after the request, sent once the request is being served, cancel
// it: the protocol has one request per connection.
func TestBytesAfterRequest(t *testing.T) {
	h := &fake{block: make(chan struct{}), entered: make(chan struct{}, 1), ctxErr: make(chan error, 1)}
	s := serve(t, h, Options{})
	c, err := net.Dial("unix", s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"version":1,"command":"commit"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	if _, err := c.Write([]byte(`{"version":1,"command":"flush"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if cause := <-h.ctxErr; !errors.Is(cause, errClientBytes) {
		t.Errorf("handler context ended with %v, want the extra bytes named", cause)
	}
	waitStats(t, s, func(st ServerStats) bool { return st.Disconnected == 1 && st.Failed == 1 })
	if calls := h.Calls(); len(calls) != 1 {
		t.Errorf("handler calls %v, want the commit only", calls)
	}
	checkAlive(t, s)
}

// stagedFake commits its flows, then its expectations, reporting each.
type stagedFake struct{ *fake }

func (f stagedFake) Commit(ctx context.Context, progress func(Progress)) error {
	for i := 1; i <= 1000; i++ {
		progress(Progress{Stage: "commit", Done: int64(i), Total: 1000})
	}
	for i := 1; i <= 3; i++ {
		progress(Progress{Stage: "commit expectations", Done: int64(i), Total: 3})
	}
	return nil
}

// Each stage's end reaches the client before the next stage begins,
// however quickly they follow each other, and the lines stay few.
func TestProgressStages(t *testing.T) {
	var clock atomic.Int64 // ms; each look at the clock takes 1 ms
	now := func() time.Time { return time.UnixMilli(clock.Add(1)) }
	s := serve(t, stagedFake{&fake{}}, Options{Now: now, ProgressInterval: 100 * time.Millisecond})
	var got collect
	if err := got.do(context.Background(), s.path, Request{Command: Commit}); err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, p := range got.progress {
		if p.Done == p.Total {
			stages = append(stages, p.String())
		}
	}
	want := []string{"commit: 1000/1000 (100%)", "commit expectations: 3/3 (100%)"}
	if !slices.Equal(stages, want) {
		t.Errorf("stage ends %q, want %q; all: %v", stages, want, got.progress)
	}
	if p := got.progress[0]; p.Stage != "commit" || p.Done != 1 {
		t.Errorf("first progress %v, want commit's first", p)
	}
	if n := len(got.progress); n > 1000/100+4 {
		t.Errorf("%d progress lines, want at most %d: %v", n, 1000/100+4, got.progress)
	}
}
