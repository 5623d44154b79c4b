//go:build !linux

package ctnl

func dialSock(sockConfig) (sock, error) { return nil, errUnsupported }
