//go:build !linux

package ctnl

import "github.com/mdlayher/netlink"

func decodeEvent(netlink.Message, *Event) error { return errUnsupported }
