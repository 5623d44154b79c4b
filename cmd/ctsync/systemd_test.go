package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/daemonlog"
)

// notifyListener is systemd's end of NOTIFY_SOCKET.
type notifyListener struct {
	t *testing.T
	c *net.UnixConn
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return &notifyListener{t: t, c: c}
}

// next is the next notification within d, or "" when none came.
func (l *notifyListener) next(d time.Duration) string {
	l.t.Helper()
	l.c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256)
	n, err := l.c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return string(buf[:n])
}

// With NOTIFY_SOCKET set and systemd on (conntrackd's default), the state
// reaches systemd's socket; with systemd off, nothing is sent.
func TestNotifySystemd(t *testing.T) {
	l := listenNotify(t)
	log := slog.New(slog.DiscardHandler)

	var off config.Runtime
	notifySystemd(off, log, "READY=1")
	on := config.Runtime{Daemon: config.DaemonSettings{Systemd: true}}
	notifySystemd(on, log, "STOPPING=1")

	if got := l.next(5 * time.Second); got != "STOPPING=1" {
		t.Errorf("first notification %q, want STOPPING=1 (systemd off sends none)", got)
	}
}

// The watchdog runs at half of WATCHDOG_USEC, for this process only, as
// sd_watchdog_enabled(3) reads the variables.
func TestWatchdogInterval(t *testing.T) {
	pid := 4242
	tests := []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{want: 0},
		{usec: "20000000", want: 10 * time.Second},
		{usec: "20000000", pid: "4242", want: 10 * time.Second},
		{usec: "20000000", pid: "1", want: 0},
		{usec: "0", wantErr: true},
		{usec: "ten", wantErr: true},
		{usec: "-5", wantErr: true},
	}
	for _, tt := range tests {
		env := map[string]string{"WATCHDOG_USEC": tt.usec, "WATCHDOG_PID": tt.pid}
		got, err := watchdogInterval(func(k string) string { return env[k] }, pid)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v; want %v (error %v)", tt.usec, tt.pid, got, err, tt.want, tt.wantErr)
		}
	}
}

// sdEngine is a fake engine whose readiness and liveness the test
// drives.
type sdEngine struct {
	*fakeEngine
	stuck atomic.Bool
}

func (e *sdEngine) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (e *sdEngine) Reload(ctx context.Context) error { return nil }

func (e *sdEngine) Alive(ctx context.Context) error {
	if e.stuck.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// systemd hears READY=1 (with MAINPID) only once the engine is ready,
// WATCHDOG=1 every half WATCHDOG_USEC while the engine answers and none
// while it does not, RELOADING=1 and READY=1 around a SIGHUP reload, and
// STOPPING=1 last.
func TestServeDaemonNotifies(t *testing.T) {
	l := listenNotify(t)
	const interval = 100 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(2*interval/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", "")
	dlog, _, err := daemonlog.Open(daemonlog.Options{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer dlog.Close()
	eng := &sdEngine{fakeEngine: &fakeEngine{o: engineOptions{Log: dlog.Logger}, ready: make(chan struct{})}}
	rt := config.Runtime{Daemon: config.DaemonSettings{Systemd: true}}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- serveDaemon(dlog.Logger, dlog, rt, eng, nil, nil, sigs, false) }()

	if got := l.next(5 * interval); got != "" {
		t.Fatalf("before the engine is ready systemd heard %q", got)
	}
	close(eng.ready)
	if got, want := l.next(5*time.Second), fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=ready: fake engine: resync from the peer complete (2 flows received)", os.Getpid()); got != want {
		t.Fatalf("at ready systemd heard %q, want %q", got, want)
	}
	for i := range 3 {
		if got := l.next(5 * interval); got != "WATCHDOG=1" {
			t.Fatalf("watchdog notification %d: %q", i, got)
		}
	}

	// A hung engine: the watchdog goes quiet, so systemd restarts it.
	eng.stuck.Store(true)
	l.next(2 * interval) // one may have been on its way
	if got := l.next(5 * interval); got != "" {
		t.Fatalf("with the engine not answering systemd heard %q", got)
	}
	eng.stuck.Store(false)
	if got := l.next(5 * interval); got != "WATCHDOG=1" {
		t.Fatalf("once the engine answers again: %q", got)
	}

	// SIGHUP: RELOADING=1 with the monotonic clock, then READY=1.
	sigs <- syscall.SIGHUP
	var got []string
	for len(got) < 2 {
		n := l.next(5 * time.Second)
		if n == "" {
			t.Fatalf("after SIGHUP systemd heard only %q", got)
		}
		if n != "WATCHDOG=1" {
			got = append(got, n)
		}
	}
	if !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`).MatchString(got[0]) || got[1] != "READY=1" {
		t.Errorf("a reload told systemd %q, want RELOADING=1 with MONOTONIC_USEC, then READY=1", got)
	}

	sigs <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for {
		got := l.next(time.Second)
		if got == "WATCHDOG=1" {
			continue // sent before the stop
		}
		if got != "STOPPING=1" {
			t.Fatalf("at stop systemd heard %q, want STOPPING=1", got)
		}
		break
	}
	if got := l.next(3 * interval); got != "" {
		t.Errorf("after STOPPING=1 systemd heard %q", got)
	}
}

// readinessEngine answers Readiness with r, or err; nothing else of the
// handler is asked.
type readinessEngine struct {
	control.Handler
	r   control.Readiness
	err error
}

func (e *readinessEngine) Readiness(context.Context) (control.Readiness, error) { return e.r, e.err }

// Before READY=1, a daemon whose engine says it is not ready extends the
// start timeout each time it looks; one whose engine does not answer
// (it may hang) says so in STATUS, once, and extends nothing, so that
// systemd's start timeout can fail a hung start (docs/readiness.md).
func TestReadyWatchExtendsOnlyWhenTheEngineAnswers(t *testing.T) {
	l := listenNotify(t)
	eng := &readinessEngine{r: control.Readiness{Reason: "waiting for the peer's table"}}
	w := &readyWatch{rt: config.Runtime{Daemon: config.DaemonSettings{Systemd: true}}, log: slog.New(slog.DiscardHandler), eng: eng}
	for range 2 {
		w.check(context.Background())
		if got, want := l.next(5*time.Second), "STATUS=not ready: waiting for the peer's table\nEXTEND_TIMEOUT_USEC=30000000"; got != want {
			t.Fatalf("not ready: notified %q, want %q", got, want)
		}
	}
	eng.err = errors.New("context deadline exceeded")
	w.check(context.Background())
	if got, want := l.next(5*time.Second), "STATUS=not ready: the engine does not say: context deadline exceeded"; got != want {
		t.Fatalf("engine silent: notified %q, want %q", got, want)
	}
	w.check(context.Background())
	if got := l.next(200 * time.Millisecond); got != "" {
		t.Fatalf("engine still silent: notified %q, want nothing", got)
	}
	eng.err = nil
	eng.r = control.Readiness{Ready: true, Reason: "resync from the peer complete"}
	w.check(context.Background())
	if got := l.next(5 * time.Second); !regexp.MustCompile(`^READY=1\nMAINPID=\d+\nSTATUS=ready: resync from the peer complete$`).MatchString(got) {
		t.Fatalf("ready: notified %q, want READY=1 with MAINPID and STATUS", got)
	}
}
