package ctnl

import (
	"errors"
	"testing"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// Against the kernel, in a namespace: the probe says "present" for a
// subsystem the kernel surely has (ctnetlink, whose GET is message 1 as
// CTHELPER's is), "absent" for an id no kernel registers, and for
// CTHELPER one of the two, never a failure to ask.
func TestKernelHelperSubsystem(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	var helper, ctnetlink, none error
	err := ns.Do(func() error {
		helper = HelperSubsystem(0)
		s, err := dialSock(sockConfig{ack: true})
		if err != nil {
			return err
		}
		defer s.close()
		c := newConn(s, helperProbeWait, nil)
		ctnetlink = probeSubsystem(c, subsysCT, msgGet)
		none = probeSubsystem(c, 13, 1) // NFNL_SUBSYS_COUNT: never registered
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ctnetlink != nil {
		t.Errorf("ctnetlink: %v, want present", ctnetlink)
	}
	if !errors.Is(none, ErrNoHelperSubsystem) {
		t.Errorf("subsystem 13: %v, want absent", none)
	}
	if helper != nil && !errors.Is(helper, ErrNoHelperSubsystem) {
		t.Errorf("HelperSubsystem: %v, want nil or ErrNoHelperSubsystem", helper)
	}
	t.Logf("HelperSubsystem on this kernel: %v", helper)
}
