//go:build !linux

package engine

import (
	"errors"

	"github.com/ctsync/ctsync/config"
)

// Open needs Linux's ctnetlink and the links.
func Open(rt config.Runtime, o Options) (*Engine, error) {
	return nil, errors.New("engine: the daemon runs on Linux only")
}
