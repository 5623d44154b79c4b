package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the daemon's lock file, held from start to exit.
//
// conntrackd creates it with O_CREAT|O_EXCL and refuses to start while it
// exists (src/main.c), so a daemon killed with SIGKILL, or conntrackd
// stopped by SIGHUP, blocks every later start until someone deletes the
// file. ctsync creates it the same way, so a conntrackd and a ctsync on one
// lock file exclude each other as two conntrackds do, and also holds a
// flock on it and writes "ctsync PID" into it. A file that says it is
// ctsync's and that no process holds locked was left by a ctsync that
// died: it is taken over, with a warning. Any other file (conntrackd's is
// empty) is respected, as conntrackd respects it. docs/compat.md says so.
type lockFile struct {
	path string
	f    *os.File
	// Stale is the content of a stale ctsync lock file taken over, for
	// the caller to log; "" when the file was created.
	Stale string
}

// lockMarker starts a ctsync lock file's content.
const lockMarker = "ctsync "

// errLocked is a lock file in use: by a running daemon, or by one that
// is not ctsync and died.
type errLocked struct{ path, why string }

func (e *errLocked) Error() string {
	return fmt.Sprintf("lockfile %s exists, perhaps conntrackd or ctsync is already running? (%s)", e.path, e.why)
}

// takeLock creates or takes over the lock file at path.
func takeLock(path string) (*lockFile, error) {
	// A few rounds: another ctsync may remove or take the file between
	// our steps; each round starts again from the path.
	for range 3 {
		l, retry, err := tryLock(path)
		if !retry {
			return l, err
		}
	}
	return nil, &errLocked{path: path, why: "it keeps changing under us"}
}

func tryLock(path string) (l *lockFile, retry bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	created := err == nil
	if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			return nil, true, nil // removed meanwhile: create it
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("lock file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, &errLocked{path: path, why: "a ctsync process holds it" + holder(f)}
		}
		return nil, false, fmt.Errorf("lock file %s: flock: %w", path, err)
	}
	// The file locked must still be the one at path: a daemon that was
	// exiting may have removed it after we opened it.
	if same, err := samePath(f, path); err != nil || !same {
		return nil, true, nil
	}
	l = &lockFile{path: path, f: f}
	if !created {
		content, err := io.ReadAll(io.LimitReader(f, 256))
		if err != nil {
			return nil, false, fmt.Errorf("lock file %s: %w", path, err)
		}
		if !bytes.HasPrefix(content, []byte(lockMarker)) {
			// conntrackd's (empty), or a ctsync's being written
			// this instant: either way in use, as conntrackd says.
			return nil, false, &errLocked{path: path, why: "not a ctsync lock file, so not taken over; remove it if no daemon runs"}
		}
		l.Stale = strings.TrimSpace(string(content))
	}
	if err := f.Truncate(0); err != nil {
		return nil, false, fmt.Errorf("lock file %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(lockMarker+strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, false, fmt.Errorf("lock file %s: %w", path, err)
	}
	ok = true
	return l, false, nil
}

// holder names the process a ctsync lock file says holds it.
func holder(f *os.File) string {
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, 0)
	if s, ok := strings.CutPrefix(strings.TrimSpace(string(b[:n])), lockMarker); ok {
		return ", pid " + s
	}
	return ""
}

func samePath(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Lstat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// Release removes the lock file, as conntrackd does at a clean exit, and
// then drops the lock, so no other daemon can take a file about to be
// removed. A file that replaced ours at the path is left alone.
func (l *lockFile) Release() error {
	var err error
	if same, _ := samePath(l.f, l.path); same {
		err = os.Remove(l.path)
	}
	return errors.Join(err, l.f.Close())
}
