package control

import (
	"errors"
	"net"
	"os"
	"sync"
)

// DefaultMode is the control socket's permission: the owner only, as
// conntrackd's umask of 0177 leaves it (src/main.c). Whoever may connect
// may flush the caches and the kernel table.
const DefaultMode os.FileMode = 0o600

// ErrInUse means a live daemon already listens on the socket path.
var ErrInUse = errors.New("another daemon is listening on it")

// Listener is a control socket bound to a path. Close removes the path.
type Listener struct {
	net.Listener
	path  string
	file  os.FileInfo // the socket file made, to remove only that one
	close sync.Once
	err   error
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Close stops listening and removes the socket file, as conntrackd does at
// a clean exit, so that no stale socket is left to be mistaken for a
// daemon.
// A file that replaced it meanwhile (another daemon's socket, after this
// one's was removed by hand) is left alone.
func (l *Listener) Close() error {
	l.close.Do(func() {
		l.err = l.Listener.Close()
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			if err := os.Remove(l.path); err != nil && l.err == nil {
				l.err = err
			}
		}
	})
	return l.err
}
