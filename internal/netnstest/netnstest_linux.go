// Package netnstest builds network namespaces and veth pairs for privileged
// integration tests, and runs Go code inside a namespace.
//
// Every namespace and veth is removed by t.Cleanup, also when the test
// fails. t is a T: a *testing.T, or a runner that does the same outside
// `go test` (the `ctsync lab` demo). Addresses are restricted to the documentation ranges
// 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32, so a test can never
// touch a real network.
package netnstest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// T is the part of testing.TB that this package, internal/lab and
// internal/legacyd use. *testing.T and *testing.B satisfy it, and so does
// the runner of `ctsync lab` (internal/demo), so the demo builds the very
// topology the tests build, without linking package testing into ctsync.
type T interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	// Fatalf and Skipf end the calling goroutine (runtime.Goexit), as
	// in package testing; Cleanup functions still run.
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	TempDir() string
}

// EnvVar opts in to privileged tests.
const EnvVar = "CTSYNC_PRIVILEGED_TESTS"

// RequirePrivileged skips t unless privileged tests were asked for and can
// run: EnvVar=1, root, and a network namespace can be created. When CI is
// set and EnvVar=1 but something is missing, t fails instead, so a broken
// runner does not pass silently.
func RequirePrivileged(t T) {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skipf("skipping: set %s=1 and run as root (%s is not 1)", EnvVar, EnvVar)
	}
	reason := ""
	switch {
	case os.Geteuid() != 0:
		reason = fmt.Sprintf("running as uid %d", os.Geteuid())
	default:
		if _, err := exec.LookPath("ip"); err != nil {
			reason = "no ip command (iproute2)"
		} else if err := probeNetns(); err != nil {
			reason = fmt.Sprintf("got %v creating a netns", err)
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s=1 and CI is set, but privileged tests cannot run: %s", EnvVar, reason)
	}
	t.Skipf("skipping: set %s=1 and run as root (%s)", EnvVar, reason)
}

// probeNetns creates a namespace on a throwaway thread: the thread is
// left locked, so the runtime discards it.
func probeNetns() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- unix.Unshare(unix.CLONE_NEWNET)
	}()
	return <-errc
}

// NetNS is a named network namespace (/run/netns/Name).
type NetNS struct {
	Name string
	fd   int
	mu   sync.Mutex
	veth int
}

var seq atomic.Uint32

// NewNetNS creates a namespace with a name unique to the test, brings lo
// up, disables IPv6 duplicate address detection (addresses are usable at
// once) and sets net.netfilter.nf_conntrack_events=1 if conntrack is
// loaded. It is deleted when the test ends.
func NewNetNS(t T) *NetNS {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d", namePrefix(t.Name()), os.Getpid(), seq.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	ns := &NetNS{Name: name, fd: fd}
	t.Cleanup(func() { unix.Close(fd) })
	ns.Exec(t, "ip", "link", "set", "lo", "up")
	err = ns.Do(func() error {
		for _, f := range []string{
			"/proc/sys/net/ipv6/conf/all/accept_dad",
			"/proc/sys/net/ipv6/conf/default/accept_dad",
		} {
			if err := os.WriteFile(f, []byte("0"), 0); err != nil {
				return err
			}
		}
		err := os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_events", []byte("1"), 0)
		if os.IsNotExist(err) {
			return nil // nf_conntrack not loaded: nothing to configure
		}
		return err
	})
	if err != nil {
		t.Fatalf("namespace %s: sysctl: %v", name, err)
	}
	return ns
}

// namePrefix starts the names of the namespaces made for the test or
// runner named name; the creating process's id and a sequence number
// follow.
func namePrefix(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("ctsync-%08x-", h.Sum32())
}

// RemoveStale deletes the namespaces NewNetNS made for a test or runner
// called name in processes that no longer run: a process killed with
// SIGKILL runs no cleanup. It returns the names it deleted. Namespaces of
// live processes, and other tests', are left alone.
func RemoveStale(name string) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := namePrefix(name)
	var removed []string
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		// Signal 0 checks that the process exists; EPERM means it
		// does, under another user.
		if err := unix.Kill(pid, 0); err == nil || err == unix.EPERM {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", e.Name(), err, out))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// Do runs fn on an OS thread switched into ns. Sockets fn opens stay in
// ns; goroutines fn starts do not run in ns.
func (ns *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- fmt.Errorf("setns back from %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Exec runs a command in ns and returns its combined output; the test
// fails if the command does.
func (ns *NetNS) Exec(t T, name string, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

func run(t T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (ns *NetNS) nextVeth() string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	name := fmt.Sprintf("veth%d", ns.veth)
	ns.veth++
	return name
}

var allowed = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// CheckAddr fails the test unless a lies in a documentation range.
func CheckAddr(t T, a netip.Addr) {
	t.Helper()
	for _, p := range allowed {
		if p.Contains(a) {
			return
		}
	}
	t.Fatalf("address %s is outside the test ranges %v", a, allowed)
}

// Veth connects ns1 and ns2 with a veth pair, gives each end its
// addresses (any number, each checked by CheckAddr), brings both up and
// returns the interface names in ns1 and ns2.
func Veth(t T, ns1, ns2 *NetNS, addrs1, addrs2 []netip.Prefix) (name1, name2 string) {
	t.Helper()
	for _, p := range append(append([]netip.Prefix{}, addrs1...), addrs2...) {
		CheckAddr(t, p.Addr())
	}
	name1, name2 = ns1.nextVeth(), ns2.nextVeth()
	// Created straight into the namespaces, so no name ever exists in
	// the host namespace; deleting a namespace deletes its end, which
	// deletes the pair.
	run(t, "ip", "link", "add", name1, "netns", ns1.Name, "type", "veth", "peer", "name", name2, "netns", ns2.Name)
	for _, end := range []struct {
		ns    *NetNS
		name  string
		addrs []netip.Prefix
	}{{ns1, name1, addrs1}, {ns2, name2, addrs2}} {
		for _, p := range end.addrs {
			args := []string{"-n", end.ns.Name, "addr", "add", p.String(), "dev", end.name}
			if p.Addr().Is6() {
				args = append(args, "nodad")
			}
			run(t, "ip", args...)
		}
		run(t, "ip", "-n", end.ns.Name, "link", "set", end.name, "up")
	}
	ns1.WaitOperUp(t, name1)
	ns2.WaitOperUp(t, name2)
	return name1, name2
}

// WaitOperUp waits up to 5 seconds for interface name to be operationally
// up: until then the kernel drops what is sent through it (its queue
// discipline is only attached once the carrier is seen).
func (ns *NetNS) WaitOperUp(t T, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := run(t, "ip", "-n", ns.Name, "-o", "link", "show", "dev", name)
		if strings.Contains(out, "state UP") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s not up after 5s: %s", name, ns.Name, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SetLink runs "ip link set NAME ARGS..." in ns, e.g. SetLink(t, "veth0", "down").
func (ns *NetNS) SetLink(t T, name string, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", ns.Name, "link", "set", name}, args...)...)
}

// Command returns a command that runs in ns, for callers that need its
// process (a daemon to stop later) or its error rather than a failed
// test.
func (ns *NetNS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}
