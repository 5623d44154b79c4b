//go:build !linux

package rtsched

// LockThread is not supported outside Linux.
func LockThread(policy Policy, priority int) (unlock func(), err error) { return nil, ErrUnsupported }

// Probe is not supported outside Linux.
func Probe(policy Policy, priority int) error { return ErrUnsupported }

// Threads is not supported outside Linux.
func Threads(pid int) ([]Thread, error) { return nil, ErrUnsupported }
