//go:build !linux

package control

import (
	"errors"
	"fmt"
	"os"
)

// Listen is only implemented on Linux, where the daemon runs.
func Listen(path string, mode os.FileMode) (*Listener, error) {
	return nil, fmt.Errorf("control: listen on %s: %w", path, errors.ErrUnsupported)
}
