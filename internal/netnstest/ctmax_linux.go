package netnstest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's conntrack table limit, net.netfilter.nf_conntrack_max, is
// one value for the whole machine: a child namespace cannot set it (its
// sysctl is read-only there, as on 6.x kernels), but the kernel compares
// it with each namespace's own count. A test that lowers it to make a
// namespace's table full makes every namespace on the machine that holds
// more entries than the new limit refuse new ones, other packages' tests
// included, since `go test ./...` runs packages at once. So the limit is
// lowered under an exclusive lock on a file every test process on the
// machine sees, never below ConntrackMaxFloor, and a test that puts more
// entries than the floor into a namespace holds that lock shared while it
// does (internal/lab's Fill does). The original value is written into the
// lock file while it is lowered, so that the next taker of the lock puts
// it back should a test process die before it could.

// ConntrackMaxFloor is the lowest limit LowerConntrackMax sets: a test
// that puts more entries than this into one namespace takes
// ShareConntrackMax first.
const ConntrackMaxFloor = 30000

const (
	conntrackMaxSysctl   = "/proc/sys/net/netfilter/nf_conntrack_max"
	conntrackCountSysctl = "/proc/sys/net/netfilter/nf_conntrack_count"
	conntrackMaxLock     = "/run/ctsync-test-nf_conntrack_max.lock"
)

// ctMax is this process's hold of the lock: one descriptor, taken shared
// while any test of the process shares it, exclusive while one lowers the
// limit.
var ctMax struct {
	mu     sync.Mutex
	cond   *sync.Cond
	fd     int
	shared int
	excl   bool
}

func init() {
	ctMax.cond = sync.NewCond(&ctMax.mu)
	ctMax.fd = -1
}

// ShareConntrackMax keeps the machine's conntrack limit from being lowered
// by another test until t ends: t is about to put more than
// ConntrackMaxFloor entries into a namespace. It waits, up to two
// minutes, for a test that lowered the limit to put it back.
func ShareConntrackMax(t T) {
	t.Helper()
	ctMax.mu.Lock()
	defer ctMax.mu.Unlock()
	for ctMax.excl {
		ctMax.cond.Wait()
	}
	if ctMax.shared == 0 {
		if err := ctMaxLock(unix.LOCK_SH, 2*time.Minute); err != nil {
			t.Fatalf("share nf_conntrack_max: %v", err)
		}
		if err := ctMaxRepair(); err != nil {
			ctMaxUnlock()
			t.Fatalf("share nf_conntrack_max: %v", err)
		}
	}
	ctMax.shared++
	t.Cleanup(func() {
		ctMax.mu.Lock()
		defer ctMax.mu.Unlock()
		if ctMax.shared--; ctMax.shared == 0 && !ctMax.excl {
			ctMaxUnlock()
		}
		ctMax.cond.Broadcast()
	})
}

// LowerConntrackMax sets net.netfilter.nf_conntrack_max to limit (at
// least ConntrackMaxFloor) once no other test on the machine shares it,
// waiting up to ten minutes, and returns the function that puts the
// original value back; t's end puts it back too. The shares this process
// holds are taken to be t's own. Keep the time between the two short: the
// whole machine has the lowered limit meanwhile.
func LowerConntrackMax(t T, limit int) (restore func()) {
	t.Helper()
	if limit < ConntrackMaxFloor {
		t.Fatalf("LowerConntrackMax(%d): the floor is %d", limit, ConntrackMaxFloor)
	}
	ctMax.mu.Lock()
	for ctMax.excl {
		ctMax.cond.Wait()
	}
	ctMax.excl = true
	ctMax.mu.Unlock()
	release := func() {
		ctMax.mu.Lock()
		defer ctMax.mu.Unlock()
		ctMax.excl = false
		if ctMax.shared > 0 {
			// Back to shared: flock converts in place.
			if err := ctMaxLock(unix.LOCK_SH, time.Minute); err != nil {
				t.Errorf("nf_conntrack_max: back to a shared lock: %v", err)
			}
		} else {
			ctMaxUnlock()
		}
		ctMax.cond.Broadcast()
	}
	if err := ctMaxLock(unix.LOCK_EX, 10*time.Minute); err != nil {
		release()
		t.Fatalf("lower nf_conntrack_max: %v", err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := ctMaxRepair(); err != nil {
				t.Errorf("nf_conntrack_max: %v", err)
			}
			release()
		})
	}
	if err := ctMaxRepair(); err != nil {
		restore()
		t.Fatalf("lower nf_conntrack_max: %v", err)
	}
	// The initial namespace is the machine's own: its new connections
	// must not meet the lowered limit.
	if host, err := readSysctlInt(conntrackCountSysctl); err != nil || host > limit/2 {
		restore()
		t.Fatalf("lower nf_conntrack_max to %d: the initial namespace tracks %d connections (%v): too close to the limit", limit, host, err)
	}
	orig, err := readConntrackMax()
	if err == nil {
		// Saved before the change, so that a crash leaves the way
		// back in the file.
		err = ctMaxSave(strconv.Itoa(orig))
	}
	if err == nil {
		err = writeConntrackMax(limit)
	}
	if err != nil {
		restore()
		t.Fatalf("lower nf_conntrack_max to %d: %v", limit, err)
	}
	t.Cleanup(restore)
	return restore
}

// ctMaxLock takes the lock file with op (LOCK_SH or LOCK_EX; on a
// descriptor that holds it already, flock converts), polling until wait
// has passed: flock cannot time out. A conversion that fails drops the
// lock held (flock(2): it is not atomic), which release takes again.
func ctMaxLock(op int, wait time.Duration) error {
	if ctMax.fd < 0 {
		fd, err := unix.Open(conntrackMaxLock, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("open %s: %w", conntrackMaxLock, err)
		}
		ctMax.fd = fd
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(ctMax.fd, op|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("flock %s: %w", conntrackMaxLock, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still held by another test after %v", conntrackMaxLock, wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ctMaxUnlock() {
	if ctMax.fd >= 0 {
		unix.Flock(ctMax.fd, unix.LOCK_UN)
	}
}

// ctMaxRepair puts back a limit a test saved in the lock file and did not
// restore (its process died), then empties the file. The caller holds
// the lock, so no test has the limit lowered now.
func ctMaxRepair() error {
	b, err := os.ReadFile(conntrackMaxLock)
	if err != nil {
		return err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s holds %q, not a saved nf_conntrack_max", conntrackMaxLock, s)
	}
	if err := writeConntrackMax(n); err != nil {
		return fmt.Errorf("put nf_conntrack_max back to %d: %w", n, err)
	}
	return ctMaxSave("")
}

func ctMaxSave(s string) error {
	if err := unix.Ftruncate(ctMax.fd, 0); err != nil {
		return err
	}
	_, err := unix.Pwrite(ctMax.fd, []byte(s), 0)
	return err
}

func readConntrackMax() (int, error) { return readSysctlInt(conntrackMaxSysctl) }

func readSysctlInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// writeConntrackMax sets the limit. The write is made from the calling
// goroutine's thread, which is in the initial namespace unless it runs
// inside NetNS.Do (where the sysctl is read-only).
func writeConntrackMax(n int) error {
	if err := os.WriteFile(conntrackMaxSysctl, []byte(strconv.Itoa(n)), 0); err != nil {
		return err
	}
	got, err := readConntrackMax()
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("nf_conntrack_max is %d after writing %d", got, n)
	}
	return nil
}
