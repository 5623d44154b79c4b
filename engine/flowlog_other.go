//go:build !linux

package engine

import (
	"errors"

	"github.com/ctsync/ctsync/config"
)

// OpenFlowLog needs Linux's ctnetlink.
func OpenFlowLog(rt config.Runtime, o Options) (*FlowLog, error) {
	return nil, errors.New("engine: the daemon runs on Linux only")
}
