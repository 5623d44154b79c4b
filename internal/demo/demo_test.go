package demo

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps registers cleanups 1, 2, 3 then does something.
		steps   func(r *Runner)
		wantErr string // "" for none
		// wantAfter: whether the steps went on after their action.
		wantAfter bool
	}{
		{"success", func(r *Runner) {}, "", true},
		{"Fatalf ends the steps", func(r *Runner) { r.Fatalf("step %d broke", 2) }, "step 2 broke", false},
		{"Skipf is a failure", func(r *Runner) { r.Skipf("no %s command", "nft") }, "no nft command", false},
		{"Errorf goes on", func(r *Runner) { r.Errorf("a warning %s", "x") }, "a warning x", true},
		{"a panic is an error", func(r *Runner) { panic("boom") }, "panic: boom", false},
		{"an error in a cleanup", func(r *Runner) {
			r.Cleanup(func() { r.Errorf("cleanup failed") })
		}, "cleanup failed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var order []int
			after := false
			err := Run(context.Background(), "test", nil, func(r *Runner) {
				for i := 1; i <= 3; i++ {
					r.Cleanup(func() { order = append(order, i) })
				}
				tc.steps(r)
				after = true
			})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run: %v, want an error with %q", err, tc.wantErr)
			}
			if after != tc.wantAfter {
				t.Errorf("steps went on after the action: %v, want %v", after, tc.wantAfter)
			}
			if !slices.Equal(order, []int{3, 2, 1}) {
				t.Errorf("cleanups ran in order %v, want [3 2 1]", order)
			}
		})
	}
}

// An interrupted run cleans up although its steps are stuck, and says it
// was interrupted.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cleaned := make(chan struct{})
	stuck := make(chan struct{})
	defer close(stuck)
	var stepCtx context.Context
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, "test", nil, func(r *Runner) {
			stepCtx = r.Context()
			r.Cleanup(func() { close(cleaned) })
			cancel() // as SIGINT would
			<-r.Context().Done()
			// A step that saw the interruption returns.
		})
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("Run: %v, want ErrInterrupted", err)
		}
	case <-time.After(StopWait + 5*time.Second):
		t.Fatal("Run did not return after the interruption")
	}
	select {
	case <-cleaned:
	default:
		t.Error("the cleanup did not run")
	}
	if stepCtx.Err() == nil {
		t.Error("the steps' context is still live after the run")
	}
}

// A cleanup registered after the end runs at once, and a temporary
// directory is gone after the run.
func TestRunLateCleanupAndTempDir(t *testing.T) {
	var r *Runner
	var dir string
	if err := Run(context.Background(), "test", nil, func(rr *Runner) {
		r = rr
		dir = r.TempDir()
		if err := os.WriteFile(dir+"/f", []byte("x"), 0o600); err != nil {
			r.Fatalf("%v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after the run: %v, want it removed", dir, err)
	}
	ran := false
	r.Cleanup(func() { ran = true })
	if !ran {
		t.Error("a cleanup registered after the run did not run")
	}
}
