package config

import (
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/ipproto"
)

// Protocol numbers the validator and the exporter single out.
const (
	protoTCP = 6
	protoUDP = 17
)

// maxConntrackProtocol is the largest protocol number a conntrack entry can
// carry: the kernel's layer-4 protocol attribute (CTA_PROTO_NUM) is 8 bits.
const maxConntrackProtocol = 255

// ProtocolName resolves a filter protocol as the model reads it: a number
// 0 to 255; a name or alias of the protocol database conntrackd 1.4.7
// resolves with getprotobyname(3) (Debian's /etc/protocols, embedded), in
// any case; or "icmpv6", which people write for ipv6-icmp. It returns the
// protocol number and the name conntrackd knows it by: the official name
// of the entry the word names, or for a number the first entry with that
// number (0 is "ip"), or the number itself when no entry has it. Names may
// resolve above 255 (mptcp is 262); no conntrack entry has such a protocol.
func ProtocolName(word string) (number int, name string, ok bool) {
	if n, err := strconv.ParseUint(word, 10, 64); err == nil {
		if n > maxConntrackProtocol {
			return 0, "", false
		}
		if e, ok := ipproto.ByNumber(int(n)); ok {
			return e.Number, e.Name, true
		}
		return int(n), word, true
	}
	if strings.EqualFold(word, "icmpv6") {
		word = "ipv6-icmp"
	}
	e, ok := ipproto.Fold(word)
	if !ok {
		return 0, "", false
	}
	return e.Number, e.Name, true
}

// protocolWords are the names the model suggests for a misspelt protocol:
// the official names and icmpv6.
var protocolWords = append([]string{"icmpv6"}, ipproto.OfficialNames()...)

// protocolShown is how messages name protocol number p: the name
// conntrackd knows it by, quoted as a configuration writes it ("tcp"), or
// the number when no protocol has it.
func protocolShown(p int) string {
	if e, ok := ipproto.ByNumber(p); ok {
		return strconv.Quote(e.Name)
	}
	return strconv.Itoa(p)
}
