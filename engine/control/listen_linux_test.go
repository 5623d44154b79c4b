package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestListenMode(t *testing.T) {
	// A permissive umask must not leak into the socket's mode.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, tt := range []struct {
		mode, want os.FileMode
	}{
		{0, 0o600},
		{0o660, 0o660},
	} {
		path := socketPath(t)
		l, err := Listen(path, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != tt.want {
			t.Errorf("Listen(%v): socket mode %v, want %v", tt.mode, fi.Mode(), os.ModeSocket|tt.want)
		}
		l.Close()
	}
}

// A socket file left by a daemon that died is replaced; the new one
// serves.
func TestListenStale(t *testing.T) {
	path := socketPath(t)
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	serveOn(t, l)
	if err := Run(context.Background(), path, Request{Command: Stats}, nil, nil); err != nil {
		t.Errorf("the new socket does not serve: %v", err)
	}
}

// A second daemon on the same path is refused, and the first goes on.
func TestListenLive(t *testing.T) {
	path := socketPath(t)
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, l)
	_, err = Listen(path, 0)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Listen: %v, want ErrInUse naming %s", err, path)
	}
	if err := Run(context.Background(), path, Request{Command: Stats}, nil, nil); err != nil {
		t.Errorf("the first daemon no longer serves: %v", err)
	}
	if st := s.Stats(); st.Malformed+st.Timeouts+st.Disconnected != 0 {
		t.Errorf("the probe was counted as an error: %+v", st)
	}
}

// A file that is not a socket is never removed.
func TestListenNotSocket(t *testing.T) {
	path := socketPath(t)
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path, 0)
	if err == nil || !strings.Contains(err.Error(), "a regular file is in the way, not a socket") {
		t.Errorf("got %v, want a refusal", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("file changed: %q, %v", b, err)
	}
	if _, err := Listen(filepath.Join(path+".d", "s"), 0); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("got %v, want a missing directory reported", err)
	}
}

// Close removes the socket file, but not one that has replaced it.
func TestListenClose(t *testing.T) {
	path := socketPath(t)
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}

	l, err = Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	other, err := Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("closing the old listener removed the new socket: %v", err)
	}
}

func serveOn(t *testing.T, l *Listener) *Server {
	s := NewServer(&fake{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(l.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file left after Serve: %v", err)
		}
	})
	return s
}
