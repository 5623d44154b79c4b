//go:build linux

package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// tb lets a command use the lab, which is built for tests: it takes a
// testing.TB for its cleanups, temporary directories and failures. A
// failure panics with fatal, which main recovers after running the
// cleanups, so namespaces go away also when a measurement fails.
type tb struct {
	testing.TB // nil: only the methods below are called
	name       string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type fatal struct{ msg string }

func (t *tb) Helper()      {}
func (t *tb) Name() string { return t.name }
func (t *tb) Failed() bool { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }

func (t *tb) Cleanup(f func()) { t.mu.Lock(); defer t.mu.Unlock(); t.cleanups = append(t.cleanups, f) }

func (t *tb) TempDir() string {
	d, err := os.MkdirTemp("", "ctsync-figures-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (t *tb) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *tb) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }

func (t *tb) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	t.Logf(format, args...)
}

func (t *tb) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (t *tb) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }

// The lab skips a test that cannot build namespaces; a command fails.
func (t *tb) Skipf(format string, args ...any) { t.Fatalf(format, args...) }

// cleanup runs the cleanups, last registered first, once.
func (t *tb) cleanup() {
	for {
		t.mu.Lock()
		if len(t.cleanups) == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		t.mu.Unlock()
		runCleanup(f)
	}
}

// runCleanup runs f; a cleanup that fails is reported (Fatalf logged it)
// and the next one still runs.
func runCleanup(f func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
		}
	}()
	f()
}
