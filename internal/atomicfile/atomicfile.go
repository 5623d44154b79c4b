// Package atomicfile replaces a file's content in one step, as careful
// tools do: a reader, or the daemon after a crash, sees either the old
// content or the new, never half of it.
//
// The new content is written to a temporary file in the same directory,
// synced to disk, given the old file's owner, group and mode, and renamed
// over the old file; the directory is then synced so the rename itself
// survives a power cut. A symbolic link is followed: the link stays a link
// and its target gets the content, because the link is usually how an
// operator points the daemon at one of several versions
// (/etc/ctsync/ctsync.hcl -> ctsync.hcl.fw1).
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// newFilePerm is the mode of a file that did not exist, before the umask:
// configurations are not secret, and a daemon running as another user
// must be able to read them.
const newFilePerm = 0o644

// maxLinks bounds how many symbolic links are followed, as the kernel does
// (ELOOP after 40), so a loop is an error rather than a hang.
const maxLinks = 40

// Write replaces the file at path with data. An existing file keeps its
// owner, group and permission bits (setuid, setgid and sticky included); a
// new one is created with mode 0644 minus the umask. Errors name path,
// never the temporary file.
func Write(path string, data []byte) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: directory %s does not exist", path, dir)
		}
		return fmt.Errorf("write %s: %w", path, err)
	} else if !st.IsDir() {
		return fmt.Errorf("write %s: %s is not a directory", path, dir)
	}
	old, err := os.Stat(target)
	switch {
	case err == nil && !old.Mode().IsRegular():
		return fmt.Errorf("write %s: not a regular file", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, err)
	case err != nil:
		old = nil
	}

	tmp, tmpName, err := createTemp(dir, filepath.Base(target))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	if old != nil {
		if err := keepAttributes(tmp, old); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	// Sync before the rename: otherwise a crash can leave the new name
	// pointing at an empty file (the rename reaches the disk before the data).
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	if err := os.Rename(tmpName, target); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	done = true
	// The rename is only durable once the directory is synced. The content
	// is in place already, so a failure here is not reported: some file
	// systems refuse to sync a directory.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// resolve follows symbolic links from path to the file they end at, which
// need not exist (a dangling link is written through, creating its
// target). Relative link targets are relative to the link's directory.
func resolve(path string) (string, error) {
	p := path
	for range maxLinks {
		st, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return p, nil // Write says what is wrong with the directory
			}
			return "", fmt.Errorf("write %s: %w", path, unwrapPath(err))
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, unwrapPath(err))
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", fmt.Errorf("write %s: too many levels of symbolic links", path)
}

// createTemp creates a new file next to the target. Unlike os.CreateTemp
// (mode 0600) it asks for newFilePerm, so the kernel applies the umask to a
// new file exactly as it would for a plain create.
func createTemp(dir, base string) (*os.File, string, error) {
	for range 100 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		name := filepath.Join(dir, "."+base+".tmp"+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, newFilePerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cannot create a temporary file")
}

// keepAttributes gives the temporary file the old file's owner, group and
// mode. The owner goes first: chown clears setuid and setgid bits.
func keepAttributes(f *os.File, old fs.FileInfo) error {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		uid, gid := int(st.Uid), int(st.Gid)
		if err := f.Chown(uid, gid); err != nil {
			// Without the right to give the file away (not root), renaming
			// would silently change its owner or group, and a daemon that
			// reads it through its group would lose access: refuse.
			return fmt.Errorf("cannot keep owner %d:%d: %w", uid, gid, unwrapPath(err))
		}
	}
	mode := old.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("cannot keep mode %v: %w", mode, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the *PathError wrapper, whose path would be the
// temporary file's: the caller names the target instead.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
