//go:build !linux

package ctnl

import "errors"

var errUnsupported = errors.New("ctnetlink needs Linux")

func dialSock(sockConfig) (sock, error) { return nil, errUnsupported }
