package demo

import "github.com/ctsync/ctsync/internal/netnstest"

// The runner stands in for *testing.T in the namespace helpers.
var _ netnstest.T = (*Runner)(nil)
