package ctnl

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nfnetlink subsystem of user-space conntrack helpers
// (NFNL_SUBSYS_CTHELPER in linux/netfilter/nfnetlink.h, served by the
// nfnetlink_cthelper module) and its GET message
// (NFNL_MSG_CTHELPER_GET in linux/netfilter/nfnetlink_cthelper.h).
const (
	subsysCTHelper  = 9
	msgCTHelperGet  = 1
	helperProbeWait = 5 * time.Second
)

// ErrNoHelperSubsystem means the kernel does not offer user-space
// conntrack helpers. nfnetlink answers a request for a subsystem that no
// module registered with EINVAL, after its own attempt to load the module
// (nfnetlink_rcv_msg in the kernel's net/netfilter/nfnetlink.c); older
// kernels said EOPNOTSUPP. Either way nothing else in a well-formed GET
// dump could be invalid.
var ErrNoHelperSubsystem = errors.New("the kernel has no user-space conntrack helper subsystem (nfnetlink_cthelper: load it with modprobe nfnetlink_cthelper, or build the kernel with CONFIG_NF_CT_NETLINK_HELPER)")

// HelperSubsystem reports whether the kernel of the network namespace
// netns (0: the caller's) offers user-space conntrack helpers, which the
// helpers of conntrackd's "Helper" section need (src/cthelper.c registers
// them through this subsystem). It asks for the list of registered
// helpers, a request that changes nothing. It returns nil when the
// subsystem answers, an error wrapping ErrNoHelperSubsystem when it is
// absent, and another error (wrapping the errno; EPERM without
// CAP_NET_ADMIN) when the question could not be asked.
func HelperSubsystem(netns int) error {
	s, err := dialSock(sockConfig{netns: netns, ack: true})
	if err != nil {
		return err
	}
	defer s.close()
	return probeHelper(newConn(s, helperProbeWait, nil))
}

// probeHelper asks c for the registered helpers.
func probeHelper(c *conn) error {
	return probeSubsystem(c, subsysCTHelper, msgCTHelperGet)
}

// probeSubsystem sends a GET dump of msgType to subsys, reading and
// dropping the answer: only whether there is one matters. It is written
// for any subsystem so that a test can check it against one the kernel
// surely has.
func probeSubsystem(c *conn, subsys, msgType int) error {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsys<<8 | msgType), Flags: netlink.Dump},
		Data:   nfgen(afUnspec),
	}
	err := c.request(m, func(netlink.Message) error { return nil })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (the kernel answered: %w)", ErrNoHelperSubsystem, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("asking the kernel for its conntrack helper subsystem: %w (needs CAP_NET_ADMIN)", err)
	}
	return fmt.Errorf("asking the kernel for its conntrack helper subsystem: %w", err)
}
