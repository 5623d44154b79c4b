package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ctsync/ctsync/internal/demo"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// ownNamespaces lists the network namespaces this process made: their
// names carry its process id (netnstest.NewNetNS), and other programs'
// (helpers running tests in parallel) do not.
func ownNamespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var own []string
	mark := fmt.Sprintf("-%d-", os.Getpid())
	for _, l := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(l, " "); strings.Contains(name, mark) {
			own = append(own, name)
		}
	}
	return own
}

// checkNoNamespaceLeft fails t if a namespace of this process is left
// once fn returned.
func checkNoNamespaceLeft(t *testing.T, fn func()) {
	t.Helper()
	if ns := ownNamespaces(t); len(ns) > 0 {
		t.Fatalf("namespaces of this process before the demo: %v", ns)
	}
	fn()
	if ns := ownNamespaces(t); len(ns) > 0 {
		t.Errorf("the demo left namespaces behind: %v", ns)
	}
}

// `ctsync lab`, run for real as the README tells: exit status 0, each step
// said with its counts, and nothing left behind.
func TestLab(t *testing.T) {
	netnstest.RequirePrivileged(t)
	var stdout, stderr bytes.Buffer
	var code int
	checkNoNamespaceLeft(t, func() {
		code = run([]string{"ctsync", "lab", "--flows", "300"}, strings.NewReader(""), &stdout, &stderr)
	})
	if code != 0 {
		t.Fatalf("ctsync lab: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	for _, want := range []string{
		`(?m)^ctsync lab: FT-FW over UDP, 300 synthetic flows$`,
		`(?m)^connection 198\.51\.100\.10:\d+ -> 203\.0\.113\.10:7 \(IPv4\) echoes through fw1$`,
		`(?m)^connection \[2001:db8:1::10\]:\d+ -> \[2001:db8:2::10\]:7 \(IPv6\) echoes through fw1$`,
		`(?m)^created 300 synthetic flows in fw1's kernel table`,
		`(?m)^fw1's kernel tracks 302 flows, its internal cache 302; fw2's external cache holds 302,`,
		`(?m)^fw2's kernel tracks 0 flows`,
		`(?m)^failing over to fw2`,
		`(?m)^commit on fw2: 302 flows in \d+ ms$`,
		`(?m)^fw2's kernel now tracks 302 flows$`,
		`(?m)^connection 198\.51\.100\.10:\d+ -> 203\.0\.113\.10:7 \(IPv4\) still echoes, through fw2$`,
		`(?m)^connection \[2001:db8:1::10\]:\d+ -> \[2001:db8:2::10\]:7 \(IPv6\) still echoes, through fw2$`,
		`(?m)^cleaned up: engines stopped, namespaces deleted$`,
		`(?m)^ok: every connection survived the fail-over$`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout.String()) {
			t.Errorf("stdout lacks %s:\n%s", want, &stdout)
		}
	}
}

// Other modes and transports, and NAT, as the flags select them.
func TestLabModes(t *testing.T) {
	netnstest.RequirePrivileged(t)
	for _, o := range []labOptions{
		{mode: "notrack", transport: "multicast", flows: 100, nat: true},
		{mode: "alarm", transport: "tcp", flows: 100},
	} {
		t.Run(o.mode+"-"+o.transport, func(t *testing.T) {
			var out, errOut bytes.Buffer
			checkNoNamespaceLeft(t, func() {
				if err := runLab(context.Background(), o, &out, &errOut); err != nil {
					t.Errorf("runLab: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
				}
			})
			if !strings.Contains(out.String(), "fw2's kernel now tracks 102 flows") {
				t.Errorf("stdout lacks the commit's result:\n%s", &out)
			}
		})
	}
}

// The demo can fail: without the commit, the backup's kernel knows none
// of the connections, its firewall drops them (nf_conntrack_tcp_loose=0),
// and the demo says so and exits 1.
func TestLabFailsWithoutCommit(t *testing.T) {
	netnstest.RequirePrivileged(t)
	var stdout, stderr bytes.Buffer
	var err error
	checkNoNamespaceLeft(t, func() {
		err = runLab(context.Background(), labOptions{mode: "ftfw", transport: "udp", flows: 10, skipCommit: true}, &stdout, &stderr)
	})
	if err == nil {
		t.Fatalf("runLab without the commit: nil error, want the connections broken\nstdout:\n%s", &stdout)
	}
	for _, want := range []string{
		"fw2's kernel tracks 0 flows after the fail-over, want at least 12",
		"(IPv4) broke at the fail-over: connection",
		"(IPv6) broke at the fail-over: connection",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(stdout.String(), "ok:") {
		t.Errorf("stdout claims success:\n%s", &stdout)
	}
}

// Interrupted (SIGINT ends the demo's context), the demo stops, deletes
// its namespaces and says it was interrupted.
func TestLabInterrupted(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &watchWriter{watch: "ctsync engines run", seen: cancel}
	var err error
	checkNoNamespaceLeft(t, func() {
		err = runLab(ctx, labOptions{mode: "ftfw", transport: "udp", flows: 10}, out, &bytes.Buffer{})
	})
	if !errors.Is(err, demo.ErrInterrupted) {
		t.Errorf("runLab interrupted: %v, want demo.ErrInterrupted\nstdout:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "cleaned up") {
		t.Errorf("stdout does not say it cleaned up:\n%s", out.String())
	}
}

// watchWriter calls seen once a line holding watch is written.
type watchWriter struct {
	mu    sync.Mutex
	b     bytes.Buffer
	watch string
	seen  func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(w.watch)) {
		w.seen()
	}
	return w.b.Write(p)
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
