package rtsched

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// childEnv makes the test binary the process under test: it sets the
// policy it is given, then starts threads, so that the parent sees
// whether threads created after Set inherit it.
const childEnv = "RTSCHED_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

func child(spec string) int {
	var policy Policy
	var prio int
	switch {
	case strings.HasPrefix(spec, "rr:"):
		policy = RR
	case strings.HasPrefix(spec, "fifo:"):
		policy = FIFO
	}
	fmt.Sscanf(spec[strings.IndexByte(spec, ':')+1:], "%d", &prio)
	n, err := Set(policy, prio)
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 0
	}
	// A goroutine locked to its thread keeps it, so each of these
	// makes the runtime start a new one, cloned from some thread Set
	// changed.
	for range 6 {
		go func() {
			runtime.LockOSThread()
			select {}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("ready %d\n", n)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
	return 0
}

// Every thread of a process runs under the policy Set applied, also the
// threads the runtime starts afterwards.
func TestSetWholeProcess(t *testing.T) {
	netnstest.RequirePrivileged(t) // CAP_SYS_NICE
	tests := []struct {
		spec       string
		wantPolicy Policy
		prio       int
	}{
		{spec: "rr:99", wantPolicy: RR, prio: 99},
		{spec: "fifo:1", wantPolicy: FIFO, prio: 1},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+tt.spec)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			if !strings.HasPrefix(line, "ready ") {
				t.Fatalf("child says %q", line)
			}
			ths, err := Threads(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(ths) < 7 {
				t.Errorf("child has %d threads, want at least 7 (6 locked goroutines and main)", len(ths))
			}
			for _, th := range ths {
				if th.Policy != tt.wantPolicy || th.Priority != tt.prio {
					t.Errorf("thread %d: %s priority %d, want %s priority %d", th.TID, th.Policy, th.Priority, tt.wantPolicy, tt.prio)
				}
			}
		})
	}
}

// A refused change leaves the calling process as it was: no thread is
// left under a policy the process as a whole did not get.
func TestSetRefusedUndoes(t *testing.T) {
	_, err := Set(RR, 0)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		t.Fatalf("Set(RR, 0): %v, want EINVAL (or EPERM unprivileged)", err)
	}
	ths, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range ths {
		if th.Policy != Other {
			t.Errorf("thread %d: %s", th.TID, th.Policy)
		}
	}
}

// Set takes only the real-time policies and their priorities.
func TestSetRejectsArguments(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		prio int
		want string
	}{
		{Other, 1, "not a real-time policy"},
		{RR, 100, "out of range"},
		{FIFO, -1, "out of range"},
	} {
		if _, err := Set(c.p, c.prio); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%s, %d): %v, want %q", c.p, c.prio, err, c.want)
		}
	}
}
