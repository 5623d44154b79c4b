package render

import (
	"net/netip"
	"strconv"

	"github.com/ctsync/ctsync/engine/cache"
)

// AppendFlowXML appends one <flow> element (no newline) for a cached
// flow as conntrackd's `-i -x` and `-e -x` print it: libnetfilter_conntrack's
// NFCT_O_XML format (src/conntrack/snprintf_xml.c there), one element a
// line. As in the text form the timeout is left out, conntrackd having
// unset it. The kernel's conntrack id, which conntrackd keeps from the
// dump that filled its cache, is not kept in ours and is not printed; the
// state of an SCTP or DCCP flow is named from its own protocol's table,
// where libnetfilter_conntrack names it from TCP's (docs/compat.md).
func AppendFlowXML(b []byte, e *cache.Entry) []byte {
	f := &e.Flow
	b = append(b, "<flow>"...)
	b = appendMetaXML(b, &f.Orig, "original")
	r := reply(f)
	b = appendMetaXML(b, &r, "reply")
	// The independent part is there when any of its fields is.
	status := f.Has&cache.HasStatus != 0
	indep := status || f.Has&(cache.HasTCPState|cache.HasSCTPState|cache.HasDCCPState|cache.HasMark) != 0 || f.Zone != 0
	if indep {
		b = append(b, `<meta direction="independent">`...)
	}
	var state string
	switch {
	case f.Has&cache.HasTCPState != 0:
		state, _ = stateName(tcpStates[:], f.TCPState)
	case f.Has&cache.HasSCTPState != 0:
		state, _ = stateName(sctpStates[:], f.SCTPState)
	case f.Has&cache.HasDCCPState != 0:
		state, _ = stateName(dccpStates[:], f.DCCPState)
	}
	if state != "" {
		b = append(append(append(b, "<state>"...), state...), "</state>"...)
	}
	if f.Has&cache.HasMark != 0 {
		b = appendUintXML(b, "mark", uint64(f.Mark))
	}
	if f.Zone != 0 {
		b = appendUintXML(b, "zone", uint64(f.Zone))
	}
	if status && f.Status&ipsAssured != 0 {
		b = append(b, "<assured/>"...)
	}
	if status && f.Status&ipsSeenReply == 0 {
		b = append(b, "<unreplied/>"...)
	}
	if indep {
		b = append(b, "</meta>"...)
	}
	if f.Has&cache.HasHelper != 0 && f.Helper.Len() > 0 {
		b = append(b, "<helper>"...)
		b = appendEscapedXML(b, f.Helper.Bytes())
		b = append(b, "</helper>"...)
	}
	return append(b, "</flow>"...)
}

// AppendExpectXML appends one <flow> element (no newline) for a cached
// expectation as conntrackd's `-i expect -x` prints it: the
// expectation's NFCT_O_XML format of libnetfilter_conntrack, without the
// timeout, as the text form.
func AppendExpectXML(b []byte, e *cache.ExpEntry) []byte {
	x := &e.Expect
	b = append(b, "<flow>"...)
	b = appendL3Open(b, x.Tuple.Src)
	for _, part := range []struct {
		name string
		t    *cache.Tuple
	}{{"expected", &x.Tuple}, {"mask", &x.Mask}, {"master", &x.Master}} {
		b = append(append(append(b, '<'), part.name...), '>')
		b = appendAddrsXML(b, part.t)
		b = append(append(append(b, "</"...), part.name...), '>')
	}
	b = append(b, "</layer3>"...)
	proto := x.Tuple.Proto
	b = appendL4Open(b, proto)
	for _, part := range []struct {
		name string
		t    *cache.Tuple
	}{{"expected", &x.Tuple}, {"mask", &x.Mask}, {"master", &x.Master}} {
		b = append(append(append(b, '<'), part.name...), '>')
		b = appendPortsXML(b, part.t, proto)
		b = append(append(append(b, "</"...), part.name...), '>')
	}
	b = append(b, "</layer4><meta>"...)
	if x.Has&cache.ExpHasHelper != 0 && x.Helper.Len() > 0 {
		b = append(b, "<helper-name>"...)
		b = appendEscapedXML(b, x.Helper.Bytes())
		b = append(b, "</helper-name>"...)
	}
	if x.Has&cache.ExpHasClass != 0 {
		b = appendUintXML(b, "class", uint64(x.Class))
	}
	if x.Zone != 0 {
		b = appendUintXML(b, "zone", uint64(x.Zone))
	}
	if x.Has&cache.ExpHasFlags != 0 {
		for i, name := range [...]string{"<permanent/>", "<inactive/>", "<userspace/>"} {
			if x.Flags&(1<<i) != 0 {
				b = append(b, name...)
			}
		}
	}
	return append(b, "</meta></flow>"...)
}

func appendMetaXML(b []byte, t *cache.Tuple, dir string) []byte {
	b = append(append(append(b, `<meta direction="`...), dir...), `">`...)
	b = appendL3Open(b, t.Src)
	b = appendAddrsXML(b, t)
	b = append(b, "</layer3>"...)
	b = appendL4Open(b, t.Proto)
	b = appendPortsXML(b, t, t.Proto)
	return append(b, "</layer4></meta>"...)
}

// appendL3Open opens <layer3> with the family's number (AF_INET 2,
// AF_INET6 10) and name.
func appendL3Open(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		return append(b, `<layer3 protonum="2" protoname="ipv4">`...)
	case a.Is6():
		return append(b, `<layer3 protonum="10" protoname="ipv6">`...)
	}
	return append(b, `<layer3 protonum="0" protoname="unknown">`...)
}

func appendL4Open(b []byte, proto uint8) []byte {
	b = append(b, `<layer4 protonum="`...)
	b = strconv.AppendUint(b, uint64(proto), 10)
	b = append(b, `" protoname="`...)
	b = append(b, protoName(proto)...)
	return append(b, `">`...)
}

func appendAddrsXML(b []byte, t *cache.Tuple) []byte {
	b = append(b, "<src>"...)
	b = appendAddr(b, t.Src)
	b = append(b, "</src><dst>"...)
	b = appendAddr(b, t.Dst)
	return append(b, "</dst>"...)
}

// appendPortsXML appends the ports (GRE: keys) of t; ICMP and other
// protocols have nothing here in libnetfilter_conntrack's XML.
func appendPortsXML(b []byte, t *cache.Tuple, proto uint8) []byte {
	switch kindOf(proto) {
	case kindPorts:
		b = appendUintXML(b, "sport", uint64(t.SrcPort))
		b = appendUintXML(b, "dport", uint64(t.DstPort))
	case kindKeys:
		b = append(b, "<srckey>0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, "</srckey><dstkey>0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
		b = append(b, "</dstkey>"...)
	}
	return b
}

func appendUintXML(b []byte, tag string, v uint64) []byte {
	b = append(append(append(b, '<'), tag...), '>')
	b = strconv.AppendUint(b, v, 10)
	return append(append(append(b, "</"...), tag...), '>')
}

// appendEscapedXML appends a name from the kernel or a peer as XML
// character data: markup characters escaped, and every byte outside
// printable ASCII written as '?', as the text form does, so that a name
// cannot break the element or the line. (libnetfilter_conntrack writes
// the bytes as they are.)
func appendEscapedXML(b, s []byte) []byte {
	for _, c := range s {
		switch {
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '"':
			b = append(b, "&quot;"...)
		case c <= ' ' || c >= 0x7f:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return b
}
