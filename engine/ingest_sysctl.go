package engine

import (
	"bytes"
	"fmt"
	"os"
)

// ConntrackEventsSysctl is where the kernel says which flows send events.
const ConntrackEventsSysctl = "/proc/sys/net/netfilter/nf_conntrack_events"

// EnableConntrackEvents makes the kernel send events for every flow:
// it sets the sysctl at path (ConntrackEventsSysctl in the daemon's
// namespace) to 1 when it is not, and returns the value it found. The
// kernel's default, 2, sends events only for flows created while some
// socket listened, so a flow created before the daemon subscribed would
// never report its updates and its end: the daemon's copy would live
// until its timeout. Call it after subscribing, which loads the kernel's
// conntrack modules and so creates the sysctl.
func EnableConntrackEvents(path string) (was string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the conntrack events setting: %w", err)
	}
	was = string(bytes.TrimSpace(b))
	if was == "1" {
		return was, nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0); err != nil {
		return was, fmt.Errorf("%s is %s, so flows created before the daemon started send no events; setting it to 1: %w", path, was, err)
	}
	return was, nil
}
