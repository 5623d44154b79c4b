package render

// Layer 4 protocol numbers the formats treat apart.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoGRE     = 47
	protoDCCP    = 33
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

// protoName is the name libnetfilter_conntrack prints for a layer 4
// protocol; any other is "unknown" (its number follows on the line).
func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoUDPLite:
		return "udplite"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmpv6"
	case protoSCTP:
		return "sctp"
	case protoGRE:
		return "gre"
	case protoDCCP:
		return "dccp"
	}
	return "unknown"
}

// tupleKind says how a tuple's layer 4 part is printed.
type tupleKind uint8

const (
	kindNone  tupleKind = iota // addresses only
	kindPorts                  // sport=, dport=
	kindKeys                   // GRE: srckey=0x, dstkey=0x
	kindICMP                   // type=, code=, id=
)

func kindOf(p uint8) tupleKind {
	switch p {
	case protoTCP, protoUDP, protoUDPLite, protoSCTP, protoDCCP:
		return kindPorts
	case protoGRE:
		return kindKeys
	case protoICMP, protoICMPv6:
		return kindICMP
	}
	return kindNone
}

// The state names of libnetfilter_conntrack, indexed by the kernel's
// state numbers (TCP_CONNTRACK_*, SCTP_CONNTRACK_*, CT_DCCP_*). It prints
// a state beyond its table as NONE; so does the text form here.
var (
	tcpStates = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
		"FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
	sctpStates = [...]string{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED",
		"ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
		"HEARTBEAT_SENT", "HEARTBEAT_ACKED"}
	dccpStates = [...]string{"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN",
		"CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID"}
)

// stateName returns the name of state s in table, and whether s is in it.
func stateName(table []string, s uint8) (string, bool) {
	if int(s) < len(table) {
		return table[s], true
	}
	return table[0], false
}

// The kernel's status bits (IPS_*, include/uapi/linux/netfilter/
// nf_conntrack_common.h), by bit number, as the JSON form names them.
var statusNames = [...]string{
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
	"SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
	"TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD",
}

const (
	ipsSeenReply = 1 << 1
	ipsAssured   = 1 << 2
	ipsOffload   = 1 << 14
	ipsHWOffload = 1 << 15
)

// The expectation flags (NF_CT_EXPECT_*), by bit number.
var expectFlagNames = [...]string{"PERMANENT", "INACTIVE", "USERSPACE"}

// icmpReply is the type of the reply to an ICMP or ICMPv6 query, which
// the kernel puts in the reply tuple (nf_conntrack_proto_icmp.c,
// nf_conntrack_proto_icmpv6.c); other types stay as they are.
func icmpReply(proto, t uint8) uint8 {
	if proto == protoICMP {
		switch t {
		case 8:
			return 0
		case 0:
			return 8
		case 13, 15, 17:
			return t + 1
		case 14, 16, 18:
			return t - 1
		}
		return t
	}
	switch t {
	case 128, 139:
		return t + 1
	case 129, 140:
		return t - 1
	}
	return t
}
