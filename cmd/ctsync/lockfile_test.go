package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The lock file excludes a second daemon, is removed at exit, and is
// taken over only when a dead ctsync left it; conntrackd's is respected.
func TestLockFile(t *testing.T) {
	mine := "ctsync " + strconv.Itoa(os.Getpid()) + "\n"
	tests := []struct {
		name    string
		before  *string // content of a file there before, nil for none
		heldBy  bool    // another holder has it locked
		wantErr string
		stale   string
	}{
		{name: "no file"},
		{name: "conntrackd's (empty)", before: new(""), wantErr: "not a ctsync lock file"},
		{name: "someone else's content", before: new("1234\n"), wantErr: "not a ctsync lock file"},
		{name: "a dead ctsync's", before: new("ctsync 999999\n"), stale: "ctsync 999999"},
		{name: "a live ctsync's", before: new("ctsync 4242\n"), heldBy: true, wantErr: "a ctsync process holds it, pid 4242"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctsync.lock")
			if tt.before != nil {
				if err := os.WriteFile(path, []byte(*tt.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.heldBy {
				// A flock is per open file, so a second open in
				// this process stands for another daemon.
				other, err := tryLockHeld(path)
				if err != nil {
					t.Fatal(err)
				}
				defer other.f.Close()
			}
			l, err := takeLock(path)
			if tt.wantErr != "" {
				var el *errLocked
				if !errors.As(err, &el) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "exists, perhaps conntrackd or ctsync is already running?") {
					t.Fatalf("takeLock: %v, want %q", err, tt.wantErr)
				}
				if b, _ := os.ReadFile(path); string(b) != *tt.before {
					t.Errorf("a refused lock file was changed to %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Stale != tt.stale {
				t.Errorf("Stale %q, want %q", l.Stale, tt.stale)
			}
			if b, _ := os.ReadFile(path); string(b) != mine {
				t.Errorf("lock file holds %q, want %q", b, mine)
			}
			if st, _ := os.Stat(path); tt.before == nil && st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600 (conntrackd's umask)", st.Mode().Perm())
			}
			// While held, a second daemon is refused.
			if _, err := takeLock(path); err == nil || !strings.Contains(err.Error(), "holds it, pid "+strconv.Itoa(os.Getpid())) {
				t.Errorf("second daemon: %v", err)
			}
			if err := l.Release(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("lock file left after release: %v", err)
			}
		})
	}
}

// tryLockHeld locks path as a running ctsync would, without the checks.
func tryLockHeld(path string) (*lockFile, error) {
	b, _ := os.ReadFile(path)
	if err := os.Remove(path); err != nil {
		return nil, err
	}
	l, err := takeLock(path)
	if err != nil {
		return nil, err
	}
	if err := l.f.Truncate(0); err != nil {
		return nil, err
	}
	_, err = l.f.WriteAt(b, 0)
	return l, err
}

// A lock file replaced at its path after we took it is not ours to
// remove.
func TestLockFileReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctsync.lock")
	l, err := takeLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("another's lock file was removed: %v", err)
	}
}
