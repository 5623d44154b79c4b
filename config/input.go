package config

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxInputSize bounds every configuration ctsync reads, in every syntax and
// for every command, -var-file files included. A real conntrackd.conf is a
// few kilobytes (the long commented example shipped with conntrackd is
// under 20 KB); a megabyte is fifty times that, and what is bigger is a
// mistake (a log, a binary, a generator gone wrong) that would otherwise
// cost seconds and gigabytes before the first message.
const MaxInputSize = 1 << 20

// ErrTooLarge is wrapped by the error ReadFile and ReadInput return for an
// input over MaxInputSize.
var ErrTooLarge = errors.New("input too large")

type tooLargeError struct {
	name string
	size int64 // -1: more than MaxInputSize, exact size unknown (a stream)
}

func (e *tooLargeError) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("read %s: more than 1 MiB (%d bytes), the most a configuration may have", e.name, MaxInputSize)
	}
	return fmt.Sprintf("read %s: %d bytes, more than 1 MiB (%d bytes), the most a configuration may have", e.name, e.size, MaxInputSize)
}

func (e *tooLargeError) Unwrap() error { return ErrTooLarge }

// ReadFile reads a configuration file, refusing one over MaxInputSize
// before reading it: the size of a regular file is known from stat, and
// anything else (a pipe, a device) is read at most one byte past the limit.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxInputSize {
		return nil, &tooLargeError{name: path, size: st.Size()}
	}
	return ReadInput(path, f)
}

// ReadInput reads a configuration from r (standard input, for example),
// named name in messages, and refuses it once it exceeds MaxInputSize,
// without reading further.
func ReadInput(name string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxInputSize {
		return nil, &tooLargeError{name: name, size: -1}
	}
	return data, nil
}
