package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteKeepsOwnerAndGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to nobody:nogroup")
	}
	path := filepath.Join(t.TempDir(), "ctsync.hcl")
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 65534 || sys.Gid != 65534 {
		t.Errorf("owner %d:%d, want 65534:65534", sys.Uid, sys.Gid)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if got := read(t, path); got != "new" {
		t.Errorf("content %q, want new", got)
	}
}

func TestWriteKeepsMode(t *testing.T) {
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o644, 0o664, 0o400, 0o755 | fs.ModeSetgid} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctsync.hcl")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if err := Write(path, []byte("new")); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode() & (fs.ModePerm | fs.ModeSetgid); got != mode {
				t.Errorf("mode %v, want %v", got, mode)
			}
			if got := read(t, path); got != "new" {
				t.Errorf("content %q, want new", got)
			}
		})
	}
}

func TestWriteNewFileHonoursUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "new.hcl")
	if err := Write(path, []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o640 {
		t.Errorf("mode %v, want 0640 (0644 under umask 027)", got)
	}
}

func TestWriteFollowsSymlinks(t *testing.T) {
	tests := []struct {
		name string
		// setup makes the link at dir/link and returns the target's path.
		setup func(t *testing.T, dir string) string
	}{
		{"relative", func(t *testing.T, dir string) string {
			mustWrite(t, filepath.Join(dir, "real.hcl"))
			mustLink(t, "real.hcl", filepath.Join(dir, "link"))
			return filepath.Join(dir, "real.hcl")
		}},
		{"absolute", func(t *testing.T, dir string) string {
			other := t.TempDir()
			mustWrite(t, filepath.Join(other, "real.hcl"))
			mustLink(t, filepath.Join(other, "real.hcl"), filepath.Join(dir, "link"))
			return filepath.Join(other, "real.hcl")
		}},
		{"relative into a subdirectory", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "v2"), 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(dir, "v2", "real.hcl"))
			mustLink(t, "v2/real.hcl", filepath.Join(dir, "link"))
			return filepath.Join(dir, "v2", "real.hcl")
		}},
		{"chain", func(t *testing.T, dir string) string {
			sub := filepath.Join(dir, "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(sub, "real.hcl"))
			mustLink(t, "real.hcl", filepath.Join(sub, "mid"))
			mustLink(t, "sub/mid", filepath.Join(dir, "link"))
			return filepath.Join(sub, "real.hcl")
		}},
		{"dangling", func(t *testing.T, dir string) string {
			mustLink(t, "future.hcl", filepath.Join(dir, "link"))
			return filepath.Join(dir, "future.hcl")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := tt.setup(t, dir)
			link := filepath.Join(dir, "link")
			if err := Write(link, []byte("new")); err != nil {
				t.Fatal(err)
			}
			st, err := os.Lstat(link)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s is no longer a symbolic link", link)
			}
			if got := read(t, target); got != "new" {
				t.Errorf("target content %q, want new", got)
			}
		})
	}
}

func TestWriteSymlinkLoop(t *testing.T) {
	dir := t.TempDir()
	mustLink(t, "b", filepath.Join(dir, "a"))
	mustLink(t, "a", filepath.Join(dir, "b"))
	err := Write(filepath.Join(dir, "a"), []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Fatalf("error %v, want too many levels of symbolic links", err)
	}
}

func TestWriteErrorsNameTheTarget(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "file"))
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{"/no/such/dir/x.hcl", "write /no/such/dir/x.hcl: directory /no/such/dir does not exist"},
		{filepath.Join(dir, "file", "x.hcl"), "write " + filepath.Join(dir, "file", "x.hcl") + ": " + filepath.Join(dir, "file") + " is not a directory"},
		{filepath.Join(dir, "adir"), "write " + filepath.Join(dir, "adir") + ": not a regular file"},
	}
	for _, tt := range tests {
		err := Write(tt.path, []byte("x"))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Write(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	// Nothing is left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries after failed writes, want 2", len(entries))
	}
}

func TestWriteLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctsync.hcl")
	for _, content := range []string{"one", "two"} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "ctsync.hcl" {
		t.Errorf("directory holds %v, want only ctsync.hcl", entries)
	}
}

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}
