// Package demo runs a program's steps with the test helpers of
// internal/netnstest and internal/lab outside `go test`: its Runner is a
// netnstest.T whose Fatalf ends the steps with an error instead of failing
// a test, and whose cleanups run whatever happens, also when the program
// is interrupted, so that a demo never leaves a network namespace behind.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// ErrInterrupted is returned by Run when its context ended before the
// steps did.
var ErrInterrupted = errors.New("interrupted")

// Timeouts bound the end of a run, so that one stuck step or cleanup
// cannot keep the others (deleting the namespaces) from running.
const (
	// StopWait is how long Run waits, once its context ends, for the
	// steps to return (they see Context end) before cleaning up under
	// them.
	StopWait = 5 * time.Second
	// CleanupWait bounds each cleanup function.
	CleanupWait = 15 * time.Second
)

// Runner carries out one run's steps. Its methods may be called from any
// goroutine, like testing.T's, except that Fatalf and Skipf must be called
// from the goroutine running the steps (they end it).
type Runner struct {
	name string
	log  io.Writer
	ctx  context.Context

	mu       sync.Mutex
	errs     []error
	cleanups []func()
	done     bool // cleanups ran; a later Cleanup runs its function at once
}

// Run calls steps with a new Runner on a goroutine of its own, then runs
// the cleanups steps registered, last registered first, and returns what
// went wrong: the errors given to Errorf, Fatalf and Skipf, a panic of
// steps (with its stack), ErrInterrupted, or the failure of a cleanup.
//
// When ctx ends first (SIGINT), the steps' Context ends; Run waits up to
// StopWait for them to return, then cleans up anyway. Each cleanup gets
// CleanupWait. name names the runner (Name); log receives Logf's lines and
// may be nil.
func Run(ctx context.Context, name string, log io.Writer, steps func(r *Runner)) error {
	if log == nil {
		log = io.Discard
	}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &Runner{name: name, log: log, ctx: stepCtx}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			}
		}()
		steps(r)
	}()
	select {
	case <-finished:
		// Steps that saw the interruption and returned at once may win
		// the race with ctx.Done: the run was interrupted all the same.
		if ctx.Err() != nil {
			r.fail(fmt.Errorf("%w: %v", ErrInterrupted, context.Cause(ctx)))
		}
	case <-ctx.Done():
		r.fail(fmt.Errorf("%w: %v", ErrInterrupted, context.Cause(ctx)))
		cancel()
		select {
		case <-finished:
		case <-time.After(StopWait):
			r.fail(fmt.Errorf("the steps did not stop within %v of the interruption; cleaning up under them", StopWait))
		}
	}
	r.runCleanups()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

func (r *Runner) runCleanups() {
	r.mu.Lock()
	fns := r.cleanups
	r.cleanups, r.done = nil, true
	r.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		r.runCleanup(fns[i])
	}
}

// runCleanup runs fn, giving up waiting after CleanupWait: a cleanup that
// hangs (an engine that does not stop) must not keep the namespaces
// registered before it from being deleted.
func (r *Runner) runCleanup(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Errorf("cleanup panicked: %v\n%s", p, debug.Stack()))
			}
		}()
		fn()
	}()
	select {
	case <-done:
	case <-time.After(CleanupWait):
		r.fail(fmt.Errorf("a cleanup did not finish within %v; going on with the others", CleanupWait))
	}
}

func (r *Runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// Context ends when the run is interrupted: long steps should watch it.
func (r *Runner) Context() context.Context { return r.ctx }

// Name is the runner's name; netnstest names its namespaces after it.
func (r *Runner) Name() string { return r.name }

// Helper does nothing: messages carry no file and line.
func (r *Runner) Helper() {}

// Logf writes a line to the run's log.
func (r *Runner) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, format+"\n", args...)
}

// Errorf records an error; the steps go on.
func (r *Runner) Errorf(format string, args ...any) {
	r.fail(fmt.Errorf(format, args...))
}

// Fatalf records an error and ends the steps.
func (r *Runner) Fatalf(format string, args ...any) {
	r.fail(fmt.Errorf(format, args...))
	runtime.Goexit()
}

// Skipf is Fatalf: a helper skips a test that cannot run here, and a demo
// that cannot run has failed.
func (r *Runner) Skipf(format string, args ...any) {
	r.Fatalf(format, args...)
}

// Failed reports whether an error was recorded.
func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}

// Cleanup registers fn to run when the run ends, after the steps and
// before the cleanups registered earlier. Registered after the end (by a
// step that outlived an interruption), fn runs at once.
func (r *Runner) Cleanup(fn func()) {
	r.mu.Lock()
	if !r.done {
		r.cleanups = append(r.cleanups, fn)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.runCleanup(fn)
}

// TempDir makes a new directory, removed when the run ends.
func (r *Runner) TempDir() string {
	dir, err := os.MkdirTemp("", "ctsync-"+r.name+"-")
	if err != nil {
		r.Fatalf("temporary directory: %v", err)
	}
	r.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			r.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}
