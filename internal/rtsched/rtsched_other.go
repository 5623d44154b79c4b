//go:build !linux

package rtsched

// Set is not supported outside Linux.
func Set(policy Policy, priority int) (changed int, err error) { return 0, ErrUnsupported }

// Threads is not supported outside Linux.
func Threads(pid int) ([]Thread, error) { return nil, ErrUnsupported }
