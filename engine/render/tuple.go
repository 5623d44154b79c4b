package render

import (
	"net/netip"
	"strconv"

	"github.com/ctsync/ctsync/engine/cache"
)

// appendAddr appends a as glibc's inet_ntop writes it, which is what
// conntrackd prints: Go's form except for an IPv6 address whose first 96
// bits are zero and whose 7th group is not, which glibc writes with a
// dotted IPv4 tail ("::1.2.3.4", the deprecated IPv4-compatible form).
// An invalid address appends nothing.
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is6() && !a.Is4In6() && a.Zone() == "" {
		s := a.As16()
		if [12]byte(s[:12]) == [12]byte{} && s[12]|s[13] != 0 {
			b = append(b, "::"...)
			return netip.AddrFrom4([4]byte(s[12:])).AppendTo(b)
		}
	}
	return a.AppendTo(b)
}

// reply returns the reply tuple of f: the original one inverted, with the
// NAT's addresses and ports where f has them. The cache does not keep the
// reply tuple; the kernel builds it the same way when a commit creates
// the flow (engine.KernelFromCache), so this is the tuple the kernel has.
func reply(f *cache.Flow) cache.Tuple {
	o := &f.Orig
	r := cache.Tuple{
		Src: o.Dst, Dst: o.Src, Proto: o.Proto,
		SrcPort: o.DstPort, DstPort: o.SrcPort,
		ICMPID: o.ICMPID, ICMPType: o.ICMPType, ICMPCode: o.ICMPCode,
	}
	if o.Proto == protoICMP || o.Proto == protoICMPv6 {
		r.ICMPType = icmpReply(o.Proto, o.ICMPType)
	}
	if f.Has&cache.HasSNAT != 0 && f.SNAT.IsValid() {
		r.Dst = f.SNAT
	}
	if f.Has&cache.HasDNAT != 0 && f.DNAT.IsValid() {
		r.Src = f.DNAT
	}
	if kindOf(o.Proto) == kindPorts {
		if f.Has&cache.HasSNATPort != 0 && f.SNATPort != 0 {
			r.DstPort = f.SNATPort
		}
		if f.Has&cache.HasDNATPort != 0 && f.DNATPort != 0 {
			r.SrcPort = f.DNATPort
		}
	}
	return r
}

// appendTupleText appends t as libnetfilter_conntrack's default format
// does, each field followed by a space: "src=A dst=B " and the layer 4
// part of protocol proto. prefix ("", "mask-", "master-") names the
// addresses.
func appendTupleText(b []byte, t *cache.Tuple, proto uint8, prefix string) []byte {
	b = append(b, prefix...)
	b = append(b, "src="...)
	b = appendAddr(b, t.Src)
	b = append(b, ' ')
	b = append(b, prefix...)
	b = append(b, "dst="...)
	b = appendAddr(b, t.Dst)
	b = append(b, ' ')
	switch kindOf(proto) {
	case kindPorts:
		b = append(b, "sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, ' ')
	case kindKeys:
		b = append(b, "srckey=0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, " dstkey=0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
		b = append(b, ' ')
	case kindICMP:
		b = append(b, "type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
		b = append(b, ' ')
	}
	return b
}

// appendTupleJSON appends t as a JSON object: "src" and "dst", then
// "sport" and "dport" (GRE: "srckey" and "dstkey"; ICMP: "type", "code"
// and "id") as numbers.
func appendTupleJSON(b []byte, t *cache.Tuple, proto uint8) []byte {
	b = append(b, `{"src":"`...)
	b = appendAddr(b, t.Src)
	b = append(b, `","dst":"`...)
	b = appendAddr(b, t.Dst)
	b = append(b, '"')
	switch kindOf(proto) {
	case kindPorts:
		b = appendUintField(b, "sport", uint64(t.SrcPort))
		b = appendUintField(b, "dport", uint64(t.DstPort))
	case kindKeys:
		b = appendUintField(b, "srckey", uint64(t.SrcPort))
		b = appendUintField(b, "dstkey", uint64(t.DstPort))
	case kindICMP:
		b = appendUintField(b, "type", uint64(t.ICMPType))
		b = appendUintField(b, "code", uint64(t.ICMPCode))
		b = appendUintField(b, "id", uint64(t.ICMPID))
	}
	return append(b, '}')
}

// family names the layer 3 protocol of a tuple, as the extended format
// does.
func family(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	if a.Is6() {
		return "ipv6"
	}
	return "unknown"
}
