package engine

import (
	"time"

	"github.com/ctsync/ctsync/config"
)

// Each side of the engine keeps its own representation of a flow: the
// kernel's (ctnl.Flow, ctnl.Expect), the sync link's (wire.Flow,
// wire.Expect), the caches' (cache.Flow, the hub of the flow conversions,
// see convert_flow.go) and the filter's view (filter.Flow). The functions
// of convert_*.go translate between them as conntrackd does, src/build.c
// (kernel to sync message) and src/parse.c with src/netlink.c (sync
// message to the kernel), write into a caller's value and do not allocate
// for the flows conntrackd synchronises.

// ConvertOptions are the sync settings that change a conversion.
type ConvertOptions struct {
	// WindowTracking is conntrackd's TCPWindowTracking. Sending, it puts
	// the TCP window scales on the wire. Receiving, it keeps the kernel's
	// window tracking on a flow written from a message: the flow gets
	// the WINDOW_SCALE flag, so that the kernel takes the scales sent,
	// instead of BE_LIBERAL, which turns the window checks off.
	WindowTracking bool
	// CommitTimeout, in seconds, is conntrackd's CommitTimeout; 0 keeps
	// the timeout the peer sent. When set, the timeout is not sent
	// (src/build.c) and a flow written from a message gets this one
	// (src/netlink.c). The engine passes 0 when it writes received
	// flows straight to the kernel (no external cache), where conntrackd
	// ignores CommitTimeout.
	CommitTimeout uint32
}

// SyncConvertOptions translates the configured sync settings.
func SyncConvertOptions(s config.SyncSettings) ConvertOptions {
	return ConvertOptions{
		WindowTracking: s.TCPWindowTracking,
		CommitTimeout:  uint32(s.CommitTimeout / time.Second),
	}
}

// IP protocol numbers the conversions treat apart.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoDCCP    = 33
	protoGRE     = 47
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

// TCP conntrack states (enum tcp_conntrack) after which one side has
// closed.
const (
	tcpTimeWait = 7
	tcpClose    = 8
)

// wirePorts reports whether conntrackd puts the PORT attribute on the wire
// for a flow of protocol p (src/build.c, l4proto_fcn): UDP-Lite and GRE
// flows travel without ports, ICMP with type, code and identifier.
func wirePorts(p uint8) bool {
	switch p {
	case protoTCP, protoUDP, protoSCTP, protoDCCP:
		return true
	}
	return false
}

// kernelPorts reports whether the kernel's tuple of protocol p has ports
// (GRE: keys, in the same attributes), as far as ctnetlink reports them.
func kernelPorts(p uint8) bool {
	switch p {
	case protoTCP, protoUDP, protoUDPLite, protoSCTP, protoDCCP, protoGRE:
		return true
	}
	return false
}

// natPorts reports whether a NAT port of protocol p is a port. The
// libnetfilter_conntrack that conntrackd 1.4.7 runs on decides whether to
// send SPAT_PORT by comparing the reply's destination port slot with the
// original source port slot for every protocol; for ICMP those hold the
// reply's type and code and the original identifier, so a legacy sender
// puts a meaningless SPAT_PORT on source-NATed ICMP flows. Later versions
// of the library check the protocol first, as this does.
func natPorts(p uint8) bool {
	switch p {
	case protoTCP, protoUDP, protoUDPLite, protoSCTP, protoDCCP:
		return true
	}
	return false
}

// The kernel's conntrack helpers (net/netfilter/nf_conntrack_*.c) and
// conntrackd's user-space ones, to name a received helper without
// allocating a string (knownName).
var knownHelpers = []string{
	"ftp", "irc", "amanda", "tftp", "sip", "sane", "pptp", "netbios-ns",
	"snmp", "snmp_trap", "RAS", "Q.931", "H.245",
	"rpc", "tns", "dhcpv6", "mdns", "slp", "ssdp",
}

// knownName returns b as a string without allocating when it is prev (the
// value the caller's object held) or one of known, else as a new string.
func knownName(b []byte, prev string, known []string) string {
	if string(b) == prev {
		return prev
	}
	for _, n := range known {
		if string(b) == n {
			return n
		}
	}
	return string(b)
}
