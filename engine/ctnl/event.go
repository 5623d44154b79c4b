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
// to its master flow. The zero value of every field means "absent".
type Expect struct {
	// Master is the original tuple of the master flow; Tuple the
	// expected one, of which only the bits set in Mask must match.
	Master, Tuple, Mask Tuple
	// Timeout is in seconds.
	Timeout uint32
	// Zone is where the kernel looks for the master and the
	// expectation; it does not report it (Linux 6.18), so a decoded
	// expectation has zone 0.
	Zone uint16
	// Helper is the name of the conntrack helper, without a NUL: on
	// create, the helper the expected flow gets; read from the kernel,
	// the master's.
	Helper       string
	Flags, Class uint32
	// NAT is where a NAT helper sends the expected flow (set up by the
	// kernel's nf_nat_ftp, nf_nat_sip, ...).
	NAT ExpectNAT
	// Function is the name of the kernel function run on the expected
	// flow when it arrives, without a NUL: "nat-follow-master" for the
	// NAT helpers of FTP, IRC, TFTP, amanda; the kernel refuses a
	// name it does not know (EINVAL).
	Function string
	// ID is the kernel's identifier of the expectation; it is never
	// sent.
	ID uint32
}

// ExpectNAT is the translation of an expectation (the kernel's
// CTA_EXPECT_NAT): the address and port saved from the master's
// translation, and which direction of the master the expected flow
// follows.
type ExpectNAT struct {
	// Dir is the master's direction: 0 original, 1 reply.
	Dir uint32
	// Tuple's source address and port (or ICMP identifier) are the
	// saved ones: the kernel's nf_nat_follow_master maps the expected
	// flow's destination port to this port. Its destination is zero,
	// and its protocol the master's. FTP's NAT saves a port only, so
	// the address is the unspecified one of the master's family.
	Tuple Tuple
}

// IsZero reports whether n is absent: the kernel reports a NAT tuple,
// and needs one to set it up, with both addresses.
func (n ExpectNAT) IsZero() bool { return !n.Tuple.Src.IsValid() }
