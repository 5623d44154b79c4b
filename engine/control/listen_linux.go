package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// backlog is conntrackd's fixed listen backlog (src/local.c); 1.4.5 made
// it ignore the configured one.
const backlog = 100

// Listen creates the control socket at path with the permission mode
// (DefaultMode when 0). A socket file left by a daemon that died is
// removed; a live daemon on it is ErrInUse, and any other file there is
// left alone and an error. The directory should be writable by the
// daemon's user only, as /run is: a socket path in a shared directory
// can be raced whatever the daemon does.
func Listen(path string, mode os.FileMode) (*Listener, error) {
	if mode == 0 {
		mode = DefaultMode
	}
	if mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("control: socket mode %v holds more than permission bits", mode)
	}
	for attempt := 0; ; attempt++ {
		l, err := bindListen(path, mode)
		if err == nil {
			return l, nil
		}
		// A daemon that removes the stale socket just before us wins
		// the race; looking again finds it alive.
		if !errors.Is(err, unix.EADDRINUSE) || attempt == 2 {
			return nil, fmt.Errorf("control: listen on %s: %w", path, err)
		}
		if err := clearStale(path); err != nil {
			return nil, fmt.Errorf("control: listen on %s: %w", path, err)
		}
	}
}

// clearStale removes the socket file at path when no daemon answers on it.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s is in the way, not a socket; not removing it", fileKind(fi.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return ErrInUse
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		// EAGAIN is a live daemon with a full queue: never remove then.
		return fmt.Errorf("probing for a live daemon on it: %w", unwrapOp(err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale socket: %w", err)
	}
	return nil
}

// bindListen binds, sets the mode, then listens: no client can connect
// before listen, so none gets in under the umask's mode (net.Listen
// binds and listens at once; changing the umask would touch the whole
// process, and two daemons may share one).
func bindListen(path string, mode os.FileMode) (*Listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	fi, err := bound(path, mode)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		os.Remove(path)
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return &Listener{Listener: ln, path: path, file: fi}, nil
}

// bound sets the mode of the socket file just bound and returns it.
func bound(path string, mode os.FileMode) (os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("%s was replaced after bind", path)
	}
	if err := os.Chmod(path, mode); err != nil {
		return nil, err
	}
	return fi, nil
}

// fileKind names what a file is, for a message: FileMode's String of a
// regular file's type bits is "----------".
func fileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a file of type " + m.Type().String()
}
