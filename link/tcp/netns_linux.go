package tcp

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

const threadNetns = "/proc/thread-self/ns/net"

// netns is the network namespace a link was opened in. The connector
// creates sockets from its own goroutine, whose thread may be in another
// namespace than the one that called Open (tests open links from a thread
// switched into a test namespace), so dials switch to it when needed.
type netns struct {
	fd  int
	ino uint64
}

func currentNetns() (*netns, error) {
	fd, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	return &netns{fd: fd, ino: st.Ino}, nil
}

func (n *netns) close() { unix.Close(n.fd) }

// do runs fn on a thread in n. In the common case (the daemon never
// switches namespaces) that is just a stat; otherwise the thread enters n
// for fn and returns to its own namespace. If it cannot return, the
// thread stays locked so the runtime discards it with the goroutine.
func (n *netns) do(fn func() error) error {
	runtime.LockOSThread()
	var st unix.Stat_t
	if err := unix.Stat(threadNetns, &st); err == nil && st.Ino == n.ino {
		err := fn()
		runtime.UnlockOSThread()
		return err
	}
	orig, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("leave network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
