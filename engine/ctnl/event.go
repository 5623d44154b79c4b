package ctnl

import "fmt"

// EventType says what happened to a flow or an expectation.
type EventType uint8

const (
	// EventNew is a flow added to the table.
	EventNew EventType = iota + 1
	// EventUpdate is a flow changed; dumps deliver their flows as
	// updates too.
	EventUpdate
	// EventDestroy is a flow removed from the table.
	EventDestroy
	// EventExpNew is an expectation added.
	EventExpNew
	// EventExpDestroy is an expectation removed.
	EventExpDestroy
)

func (t EventType) String() string {
	switch t {
	case EventNew:
		return "new"
	case EventUpdate:
		return "update"
	case EventDestroy:
		return "destroy"
	case EventExpNew:
		return "expect-new"
	case EventExpDestroy:
		return "expect-destroy"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is one message from the kernel: a table event, or one entry of a
// dump.
type Event struct {
	Type EventType
	// Flow is set for flow events.
	Flow Flow
	// Expect is set for expectation events.
	Expect *Expect
	// PortID is the netlink port id of the socket whose request caused
	// the event, 0 when the kernel's own traffic did: comparing it with
	// Writer.PortID is how the engine ignores the events of its own
	// writes (conntrackd's src/origin.c).
	PortID uint32
}

// Expect is an expectation: a flow a helper expects to be opened, related
// to its master flow.
type Expect struct {
	// Master is the original tuple of the master flow; Tuple the
	// expected one, of which only the bits set in Mask must match.
	Master, Tuple, Mask Tuple
	Timeout             uint32
	Zone                uint16
	Helper              string
	Flags, Class        uint32
	ID                  uint32
}
