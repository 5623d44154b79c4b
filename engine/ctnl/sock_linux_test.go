package ctnl

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The event socket carries the options it was asked for: they decide
// whether overruns are reported and events reliable.
func TestKernelSocketOptions(t *testing.T) {
	k := newKernelNS(t)
	for _, tc := range []struct {
		name      string
		cfg       EventsConfig
		noENOBUFS int
		broadcast int
		minRcvBuf int
	}{
		{"defaults", EventsConfig{Flows: true}, 0, 0, 0},
		{"reliable", EventsConfig{Flows: true, NoENOBUFS: true, BroadcastError: true, ReadBuffer: 1 << 20}, 1, 1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev *Events
			if err := k.ns.Do(func() error {
				var err error
				ev, err = ListenEvents(tc.cfg)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			raw := ev.s.(*nlSock).raw
			var noENOBUFS, broadcast, rcvbuf int
			var gerr error
			if err := raw.Control(func(fd uintptr) {
				get := func(level, opt int) int {
					v, err := unix.GetsockoptInt(int(fd), level, opt)
					if err != nil && gerr == nil {
						gerr = err
					}
					return v
				}
				noENOBUFS = get(unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS)
				broadcast = get(unix.SOL_NETLINK, unix.NETLINK_BROADCAST_ERROR)
				rcvbuf = get(unix.SOL_SOCKET, unix.SO_RCVBUF)
			}); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if noENOBUFS != tc.noENOBUFS || broadcast != tc.broadcast || rcvbuf < tc.minRcvBuf {
				t.Errorf("NETLINK_NO_ENOBUFS %d, NETLINK_BROADCAST_ERROR %d, SO_RCVBUF %d; want %d, %d, at least %d",
					noENOBUFS, broadcast, rcvbuf, tc.noENOBUFS, tc.broadcast, tc.minRcvBuf)
			}
		})
	}
}
