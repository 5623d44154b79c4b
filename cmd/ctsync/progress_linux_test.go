package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/engine/control"
)

// progressHandler is a daemon whose commit and resync take a second,
// reporting as the engine does: a commit's flows in batches, then its
// expectations; a resync with no total known.
type progressHandler struct{ control.Handler }

func (progressHandler) Commit(ctx context.Context, progress func(control.Progress)) error {
	const total = 100000
	for done := int64(2000); done <= total; done += 2000 {
		progress(control.Progress{Stage: "commit", Done: done, Total: total})
		time.Sleep(20 * time.Millisecond)
	}
	progress(control.Progress{Stage: "commit expectations", Done: 3, Total: 3})
	return nil
}

func (progressHandler) Resync(ctx context.Context, kernel bool, progress func(control.Progress)) error {
	for done := int64(2000); done <= 100000; done += 2000 {
		progress(control.Progress{Stage: "kernel dump", Done: done})
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// serveProgress runs a control server on progressHandler and returns its
// socket.
func serveProgress(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctsync.ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		control.NewServer(progressHandler{}, control.Options{}).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

// When stderr is a pipe (a log, keepalived's script), progress is plain
// lines: each stage's end with its count, rate and time, and no carriage
// return.
func TestClientProgressPlain(t *testing.T) {
	path := serveProgress(t)
	for _, tt := range []struct {
		args []string
		ends []string // each stage's end line, in order
	}{
		{[]string{"commit"}, []string{
			`^commit: 100000/100000 \(100%\) \d+/s, took \d[0-9.]*m?s$`,
			`^commit expectations: 3/3 \(100%\) \d+/s, took \d[0-9.]*m?s$`,
		}},
		{[]string{"resync", "--kernel"}, []string{`^kernel dump: 100000 \d+/s, took \d[0-9.]*m?s$`}},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			copied := make(chan struct{})
			go func() { io.Copy(&out, r); close(copied) }()
			var stdout bytes.Buffer
			code := run(append([]string{"ctsync"}, append(tt.args, "--socket", path)...), nil, &stdout, w)
			w.Close()
			<-copied
			r.Close()
			if code != 0 || stdout.Len() > 0 {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout.String(), out.String())
			}
			if strings.ContainsAny(out.String(), "\r\x1b") {
				t.Fatalf("a carriage return or an escape in plain output:\n%q", out.String())
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			// A second of work: the end lines, and a progress line
			// more only if a slow machine stretched it past 3 s.
			var ends []string
			for _, l := range lines {
				if !strings.Contains(l, ", took ") {
					if !regexp.MustCompile(`^\w[\w ]*: \d+(/\d+ \(\d+%\))? \d+/s(, ETA \d\w*)?$`).MatchString(l) {
						t.Errorf("progress line %q is not a progress line", l)
					}
					continue
				}
				ends = append(ends, l)
			}
			if len(ends) != len(tt.ends) {
				t.Fatalf("end lines %q, want %d:\n%s", ends, len(tt.ends), out.String())
			}
			for i, re := range tt.ends {
				if !regexp.MustCompile(re).MatchString(ends[i]) {
					t.Errorf("end line %q, want %s", ends[i], re)
				}
			}
		})
	}
}

// On a terminal, progress is one line redrawn in place: a bar with the
// percentage, counts, rate and ETA within the terminal's width, or a
// counter when the total is unknown; it is cleared at the end.
func TestClientProgressTerminal(t *testing.T) {
	path := serveProgress(t)
	const width = 90
	for _, tt := range []struct {
		args []string
		want string // in some redraw
	}{
		{[]string{"commit"}, `^commit \[=*>? *\] +\d+% \d+/100000 \d+/s, ETA \d+s$`},
		{[]string{"resync", "--kernel"}, `^kernel dump \d+ \d+/s$`},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			master, tty := openPty(t, width)
			var mu sync.Mutex
			var out bytes.Buffer
			go func() {
				b := make([]byte, 4096)
				for {
					n, err := master.Read(b)
					mu.Lock()
					out.Write(b[:n])
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			var stdout bytes.Buffer
			start := time.Now()
			code := run(append([]string{"ctsync"}, append(tt.args, "--socket", path)...), nil, &stdout, tty)
			took := time.Since(start)
			if code != 0 || stdout.Len() > 0 {
				t.Fatalf("exit %d, stdout %q", code, stdout.String())
			}
			var got string
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				got = out.String()
				mu.Unlock()
				if strings.HasSuffix(got, "\r\x1b[K") || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.HasSuffix(got, "\r\x1b[K") {
				t.Fatalf("the progress line is not cleared at the end:\n%q", got)
			}
			if strings.Contains(got, "\n") {
				t.Fatalf("a newline on the terminal:\n%q", got)
			}
			draws := strings.Split(strings.TrimPrefix(got, "\r"), "\r")
			seen := 0
			for _, d := range draws[:len(draws)-1] {
				d = strings.TrimSuffix(d, "\x1b[K")
				if len(d) >= width {
					t.Errorf("a line of %d columns on a terminal of %d: %q", len(d), width, d)
				}
				if regexp.MustCompile(tt.want).MatchString(d) {
					seen++
				}
			}
			if seen == 0 {
				t.Errorf("no redraw matches %s:\n%q", tt.want, got)
			}
			// Redrawn at most 10 times a second, and at each stage's
			// first and last report.
			if limit := int(took/(100*time.Millisecond)) + 5; len(draws) > limit {
				t.Errorf("%d redraws in %v, want at most %d:\n%q", len(draws), took, limit, got)
			}
		})
	}
}

// openPty opens a pseudo-terminal of the given width and returns its
// master and its terminal side, closed when the test ends.
func openPty(t *testing.T, width int) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	var n int
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if cerr := rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(width)}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}
