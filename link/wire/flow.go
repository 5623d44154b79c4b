package wire

import (
	"encoding/binary"
	"net/netip"
)

// Attr is a conntrack attribute type (message types 0-2).
type Attr uint8

const (
	AttrIPv4          Attr = 0  // NTA_IPV4
	AttrIPv6          Attr = 1  // NTA_IPV6
	AttrL4Proto       Attr = 2  // NTA_L4PROTO
	AttrPort          Attr = 3  // NTA_PORT
	AttrTCPState      Attr = 4  // NTA_TCP_STATE
	AttrStatus        Attr = 5  // NTA_STATUS
	AttrTimeout       Attr = 6  // NTA_TIMEOUT
	AttrMark          Attr = 7  // NTA_MARK
	AttrMasterIPv4    Attr = 8  // NTA_MASTER_IPV4
	AttrMasterIPv6    Attr = 9  // NTA_MASTER_IPV6
	AttrMasterL4Proto Attr = 10 // NTA_MASTER_L4PROTO
	AttrMasterPort    Attr = 11 // NTA_MASTER_PORT
	AttrSNATIPv4      Attr = 12 // NTA_SNAT_IPV4
	AttrDNATIPv4      Attr = 13 // NTA_DNAT_IPV4
	AttrSPATPort      Attr = 14 // NTA_SPAT_PORT
	AttrDPATPort      Attr = 15 // NTA_DPAT_PORT
	AttrNATSeqAdj     Attr = 16 // NTA_NAT_SEQ_ADJ
	AttrSCTPState     Attr = 17 // NTA_SCTP_STATE
	AttrSCTPVTagOrig  Attr = 18 // NTA_SCTP_VTAG_ORIG
	AttrSCTPVTagReply Attr = 19 // NTA_SCTP_VTAG_REPL
	AttrDCCPState     Attr = 20 // NTA_DCCP_STATE
	AttrDCCPRole      Attr = 21 // NTA_DCCP_ROLE
	AttrICMPType      Attr = 22 // NTA_ICMP_TYPE
	AttrICMPCode      Attr = 23 // NTA_ICMP_CODE
	AttrICMPID        Attr = 24 // NTA_ICMP_ID
	AttrTCPWScaleOrig Attr = 25 // NTA_TCP_WSCALE_ORIG
	AttrTCPWScaleRepl Attr = 26 // NTA_TCP_WSCALE_REPL
	AttrHelperName    Attr = 27 // NTA_HELPER_NAME
	AttrLabels        Attr = 28 // NTA_LABELS
	AttrSNATIPv6      Attr = 29 // NTA_SNAT_IPV6
	AttrDNATIPv6      Attr = 30 // NTA_DNAT_IPV6
	AttrSynproxy      Attr = 31 // NTA_SYNPROXY
	AttrZone          Attr = 32 // NTA_ZONE

	// NumAttrs is the number of conntrack attribute types a 1.4.7 receiver
	// knows; it drops any message carrying a higher one.
	NumAttrs = 33 // NTA_MAX
)

// AttrSet records which attributes a Flow or Expect carries.
type AttrSet uint64

func (s AttrSet) Has(a uint8) bool { return s&(1<<a) != 0 }
func (s *AttrSet) Set(a uint8)     { *s |= 1 << a }
func (s *AttrSet) Clear(a uint8)   { *s &^= 1 << a }

// Tuple is one direction's identity: addresses, L4 protocol and ports.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// LabelBytes is the connlabel bitmap size the kernel exposes (128 labels).
const LabelBytes = 16

// Flow is a conntrack entry as carried by CT NEW/UPDATE/DELETE messages.
// Only the attributes in Attrs are meaningful; AppendMessage writes exactly
// those. The reply tuple is not on the wire: it follows from Orig and the
// NAT fields.
type Flow struct {
	Attrs AttrSet

	Orig    Tuple  // IPV4/IPV6, L4PROTO, PORT
	Status  uint32 // kernel IPS_* bits
	Timeout uint32 // seconds
	Mark    uint32
	Zone    uint16

	TCPState       uint8
	TCPWScaleOrig  uint8
	TCPWScaleReply uint8
	SCTPState      uint8
	SCTPVTagOrig   uint32
	SCTPVTagReply  uint32
	DCCPState      uint8
	DCCPRole       uint8
	ICMPType       uint8
	ICMPCode       uint8
	ICMPID         uint16 // the identifier value; little-endian on the wire

	Master Tuple // MASTER_IPV4/IPV6, MASTER_L4PROTO, MASTER_PORT

	SNAT, DNAT         netip.Addr // reply destination / reply source
	SNATPort, DNATPort uint16     // values; little-endian on the wire

	// SeqAdj is original-direction correction position, offset before,
	// offset after, then the same three for the reply direction.
	SeqAdj [6]uint32
	// Synproxy is its, isn, tsoff.
	Synproxy [3]uint32

	Helper Name
	// Labels is the label bitmap as on the wire: big-endian 32-bit words,
	// label b is bit b%32 of word b/32. LabelWords is the number of words
	// sent (4 in practice); words past the fourth are dropped on decode.
	Labels     [LabelBytes]byte
	LabelWords uint16
}

// Has reports whether the flow carries attribute a.
func (f *Flow) Has(a Attr) bool { return f.Attrs.Has(uint8(a)) }

// Set marks attribute a present; set its field too.
func (f *Flow) Set(a Attr) { f.Attrs.Set(uint8(a)) }

// Label reports whether connlabel bit b is set.
func (f *Flow) Label(b int) bool {
	if b < 0 || b >= LabelBytes*8 {
		return false
	}
	return f.Labels[4*(b/32)+3-(b%32)/8]&(1<<(b%8)) != 0
}

// SetLabel sets connlabel bit b and marks the LABELS attribute present.
func (f *Flow) SetLabel(b int) {
	if b < 0 || b >= LabelBytes*8 {
		return
	}
	f.Labels[4*(b/32)+3-(b%32)/8] |= 1 << (b % 8)
	f.Attrs.Set(uint8(AttrLabels))
	if w := uint16(b/32 + 1); w > f.LabelWords {
		f.LabelWords = w
	}
}

// Attribute sizes (length field value, header included) a 1.4.7 receiver
// requires; 0 marks variable-size attributes, bounded by ctMaxLen.
var ctLen = [NumAttrs]uint8{
	AttrIPv4: 12, AttrIPv6: 36, AttrL4Proto: 5, AttrPort: 8, AttrTCPState: 5,
	AttrStatus: 8, AttrTimeout: 8, AttrMark: 8, AttrMasterIPv4: 12,
	AttrMasterIPv6: 36, AttrMasterL4Proto: 5, AttrMasterPort: 8,
	AttrSNATIPv4: 8, AttrDNATIPv4: 8, AttrSPATPort: 6, AttrDPATPort: 6,
	AttrNATSeqAdj: 28, AttrSCTPState: 5, AttrSCTPVTagOrig: 8,
	AttrSCTPVTagReply: 8, AttrDCCPState: 5, AttrDCCPRole: 5, AttrICMPType: 5,
	AttrICMPCode: 5, AttrICMPID: 6, AttrTCPWScaleOrig: 5, AttrTCPWScaleRepl: 5,
	AttrSNATIPv6: 20, AttrDNATIPv6: 20, AttrSynproxy: 16, AttrZone: 6,
}

const (
	helperMaxLen = 16   // NFCT_HELPER_NAME_MAX: length field incl. header
	labelsMaxLen = 1028 // NTA_LABELS: 4 + 256 words
	expFnMaxLen  = 32   // NTA_EXP_FN: "XXX: artificial limit"
)

// ctOrder is the order in which conntrackd 1.4.7 (src/build.c) emits
// conntrack attributes; following it makes re-encoding byte-exact.
var ctOrder = [NumAttrs]Attr{
	AttrIPv4, AttrIPv6, AttrStatus, AttrL4Proto,
	AttrPort, AttrTCPState, AttrTCPWScaleOrig, AttrTCPWScaleRepl,
	AttrSCTPState, AttrSCTPVTagOrig, AttrSCTPVTagReply,
	AttrDCCPState, AttrDCCPRole,
	AttrICMPType, AttrICMPCode, AttrICMPID,
	AttrTimeout, AttrMark,
	AttrMasterIPv4, AttrMasterIPv6, AttrMasterL4Proto, AttrMasterPort,
	AttrSNATIPv4, AttrDNATIPv4, AttrSNATIPv6, AttrDNATIPv6,
	AttrSPATPort, AttrDPATPort, AttrNATSeqAdj,
	AttrHelperName, AttrLabels, AttrSynproxy, AttrZone,
}

var be = binary.BigEndian

// The legacy daemon applies htons() to ICMP id and NAT ports that
// libnetfilter_conntrack already keeps in network order, so on the
// little-endian hosts it runs on (x86, arm64) they travel little-endian.
var hostOrder = binary.LittleEndian

func (f *Flow) decode(body []byte, base int) error {
	*f = Flow{}
	return walk(body, base, NumAttrs, f.set)
}

// walk visits the TLV attributes of a message body with the legacy
// receiver's checks (src/parse.c): up to 4 trailing bytes are ignored.
func walk(body []byte, base, numTypes int, set func(a uint8, p []byte, off int) error) error {
	off := 0
	for len(body)-off > 4 {
		alen := int(be.Uint16(body[off:]))
		typ := int(be.Uint16(body[off+2:]))
		if alen > len(body)-off {
			return errAt(ErrAttrOverrun, base+off, typ, "length %d, %d bytes left in message", alen, len(body)-off)
		}
		if alen < 4 {
			return errAt(ErrAttrLen, base+off, typ, "length %d below attribute header size 4", alen)
		}
		if typ >= numTypes {
			return errAt(ErrAttrType, base+off, typ, "a 1.4.7 receiver knows types 0-%d", numTypes-1)
		}
		if err := set(uint8(typ), body[off+4:off+alen], base+off); err != nil {
			return err
		}
		off += (alen + 3) &^ 3
	}
	return nil
}

func addr4(p []byte) netip.Addr  { return netip.AddrFrom4([4]byte(p[:4])) }
func addr16(p []byte) netip.Addr { return netip.AddrFrom16([16]byte(p[:16])) }

func badLen(a uint8, off, got, want int) error {
	return errAt(ErrAttrLen, off, int(a), "length %d, want %d", got, want)
}

func (f *Flow) set(a uint8, p []byte, off int) error {
	switch Attr(a) {
	case AttrHelperName:
		if len(p)+4 > helperMaxLen {
			return errAt(ErrAttrLen, off, int(a), "length %d, at most %d", len(p)+4, helperMaxLen)
		}
		f.Helper.setC(p, helperMaxLen-5)
		f.Attrs.Set(a)
		return nil
	case AttrLabels:
		if len(p)+4 > labelsMaxLen {
			return errAt(ErrAttrLen, off, int(a), "length %d, at most %d", len(p)+4, labelsMaxLen)
		}
		if len(p)%4 != 0 || len(p) == 0 {
			// The legacy receiver ignores such a label set but keeps the
			// rest of the message; so do we. An empty set is ignored too,
			// as its 4 bytes would be dropped as trailing bytes at the end
			// of a message and re-encoding would not be stable.
			return nil
		}
		f.Labels = [LabelBytes]byte{}
		copy(f.Labels[:], p)
		f.LabelWords = uint16(len(p) / 4)
		f.Attrs.Set(a)
		return nil
	}
	if want := int(ctLen[a]); len(p)+4 != want {
		return badLen(a, off, len(p)+4, want)
	}
	switch Attr(a) {
	case AttrIPv4:
		f.Orig.Src, f.Orig.Dst = addr4(p), addr4(p[4:])
		f.Attrs.Clear(uint8(AttrIPv6))
	case AttrIPv6:
		f.Orig.Src, f.Orig.Dst = addr16(p), addr16(p[16:])
		f.Attrs.Clear(uint8(AttrIPv4))
	case AttrL4Proto:
		f.Orig.Proto = p[0]
	case AttrPort:
		f.Orig.SrcPort, f.Orig.DstPort = be.Uint16(p), be.Uint16(p[2:])
	case AttrTCPState:
		f.TCPState = p[0]
	case AttrStatus:
		f.Status = be.Uint32(p)
	case AttrTimeout:
		f.Timeout = be.Uint32(p)
	case AttrMark:
		f.Mark = be.Uint32(p)
	case AttrMasterIPv4:
		f.Master.Src, f.Master.Dst = addr4(p), addr4(p[4:])
		f.Attrs.Clear(uint8(AttrMasterIPv6))
	case AttrMasterIPv6:
		f.Master.Src, f.Master.Dst = addr16(p), addr16(p[16:])
		f.Attrs.Clear(uint8(AttrMasterIPv4))
	case AttrMasterL4Proto:
		f.Master.Proto = p[0]
	case AttrMasterPort:
		f.Master.SrcPort, f.Master.DstPort = be.Uint16(p), be.Uint16(p[2:])
	case AttrSNATIPv4:
		f.SNAT = addr4(p)
		f.Attrs.Clear(uint8(AttrSNATIPv6))
	case AttrDNATIPv4:
		f.DNAT = addr4(p)
		f.Attrs.Clear(uint8(AttrDNATIPv6))
	case AttrSNATIPv6:
		f.SNAT = addr16(p)
		f.Attrs.Clear(uint8(AttrSNATIPv4))
	case AttrDNATIPv6:
		f.DNAT = addr16(p)
		f.Attrs.Clear(uint8(AttrDNATIPv4))
	case AttrSPATPort:
		f.SNATPort = hostOrder.Uint16(p)
	case AttrDPATPort:
		f.DNATPort = hostOrder.Uint16(p)
	case AttrNATSeqAdj:
		for i := range f.SeqAdj {
			f.SeqAdj[i] = be.Uint32(p[4*i:])
		}
	case AttrSCTPState:
		f.SCTPState = p[0]
	case AttrSCTPVTagOrig:
		f.SCTPVTagOrig = be.Uint32(p)
	case AttrSCTPVTagReply:
		f.SCTPVTagReply = be.Uint32(p)
	case AttrDCCPState:
		f.DCCPState = p[0]
	case AttrDCCPRole:
		f.DCCPRole = p[0]
	case AttrICMPType:
		f.ICMPType = p[0]
	case AttrICMPCode:
		f.ICMPCode = p[0]
	case AttrICMPID:
		f.ICMPID = hostOrder.Uint16(p)
	case AttrTCPWScaleOrig:
		f.TCPWScaleOrig = p[0]
	case AttrTCPWScaleRepl:
		f.TCPWScaleReply = p[0]
	case AttrSynproxy:
		for i := range f.Synproxy {
			f.Synproxy[i] = be.Uint32(p[4*i:])
		}
	case AttrZone:
		f.Zone = be.Uint16(p)
	}
	f.Attrs.Set(a)
	return nil
}

func (f *Flow) append(b []byte) []byte {
	for _, a := range ctOrder {
		if !f.Attrs.Has(uint8(a)) {
			continue
		}
		switch a {
		case AttrIPv4:
			b = appendAddrs4(b, uint8(a), f.Orig.Src, f.Orig.Dst)
		case AttrIPv6:
			b = appendAddrs16(b, uint8(a), f.Orig.Src, f.Orig.Dst)
		case AttrL4Proto:
			b = appendU8(b, uint8(a), f.Orig.Proto)
		case AttrPort:
			b = appendPorts(b, uint8(a), f.Orig.SrcPort, f.Orig.DstPort)
		case AttrTCPState:
			b = appendU8(b, uint8(a), f.TCPState)
		case AttrStatus:
			b = appendU32(b, uint8(a), f.Status)
		case AttrTimeout:
			b = appendU32(b, uint8(a), f.Timeout)
		case AttrMark:
			b = appendU32(b, uint8(a), f.Mark)
		case AttrMasterIPv4:
			b = appendAddrs4(b, uint8(a), f.Master.Src, f.Master.Dst)
		case AttrMasterIPv6:
			b = appendAddrs16(b, uint8(a), f.Master.Src, f.Master.Dst)
		case AttrMasterL4Proto:
			b = appendU8(b, uint8(a), f.Master.Proto)
		case AttrMasterPort:
			b = appendPorts(b, uint8(a), f.Master.SrcPort, f.Master.DstPort)
		case AttrSNATIPv4:
			b = appendAttrHdr(b, uint8(a), 4)
			b = appendAddr4(b, f.SNAT)
		case AttrDNATIPv4:
			b = appendAttrHdr(b, uint8(a), 4)
			b = appendAddr4(b, f.DNAT)
		case AttrSNATIPv6:
			b = appendAttrHdr(b, uint8(a), 16)
			b = appendAddr16(b, f.SNAT)
		case AttrDNATIPv6:
			b = appendAttrHdr(b, uint8(a), 16)
			b = appendAddr16(b, f.DNAT)
		case AttrSPATPort:
			b = appendAttrHdr(b, uint8(a), 2)
			b = hostOrder.AppendUint16(b, f.SNATPort)
			b = append(b, 0, 0)
		case AttrDPATPort:
			b = appendAttrHdr(b, uint8(a), 2)
			b = hostOrder.AppendUint16(b, f.DNATPort)
			b = append(b, 0, 0)
		case AttrNATSeqAdj:
			b = appendAttrHdr(b, uint8(a), 24)
			for _, v := range f.SeqAdj {
				b = be.AppendUint32(b, v)
			}
		case AttrSCTPState:
			b = appendU8(b, uint8(a), f.SCTPState)
		case AttrSCTPVTagOrig:
			b = appendU32(b, uint8(a), f.SCTPVTagOrig)
		case AttrSCTPVTagReply:
			b = appendU32(b, uint8(a), f.SCTPVTagReply)
		case AttrDCCPState:
			b = appendU8(b, uint8(a), f.DCCPState)
		case AttrDCCPRole:
			b = appendU8(b, uint8(a), f.DCCPRole)
		case AttrICMPType:
			b = appendU8(b, uint8(a), f.ICMPType)
		case AttrICMPCode:
			b = appendU8(b, uint8(a), f.ICMPCode)
		case AttrICMPID:
			b = appendAttrHdr(b, uint8(a), 2)
			b = hostOrder.AppendUint16(b, f.ICMPID)
			b = append(b, 0, 0)
		case AttrTCPWScaleOrig:
			b = appendU8(b, uint8(a), f.TCPWScaleOrig)
		case AttrTCPWScaleRepl:
			b = appendU8(b, uint8(a), f.TCPWScaleReply)
		case AttrHelperName:
			b = appendName(b, uint8(a), &f.Helper, helperMaxLen)
		case AttrLabels:
			w := int(f.LabelWords)
			if w == 0 {
				continue
			}
			b = appendAttrHdr(b, uint8(a), 4*w)
			n := min(4*w, LabelBytes)
			b = append(b, f.Labels[:n]...)
			for range 4*w - n {
				b = append(b, 0)
			}
		case AttrSynproxy:
			b = appendAttrHdr(b, uint8(a), 12)
			for _, v := range f.Synproxy {
				b = be.AppendUint32(b, v)
			}
		case AttrZone:
			b = appendAttrHdr(b, uint8(a), 2)
			b = be.AppendUint16(b, f.Zone)
			b = append(b, 0, 0)
		}
	}
	return b
}

// appendAttrHdr writes an attribute header for a payload of n bytes; the
// caller appends the payload padded to a multiple of 4.
func appendAttrHdr(b []byte, typ uint8, n int) []byte {
	return append(b, byte((n+4)>>8), byte(n+4), 0, typ)
}

func appendU8(b []byte, typ, v uint8) []byte {
	return append(b, 0, 5, 0, typ, v, 0, 0, 0)
}

func appendU32(b []byte, typ uint8, v uint32) []byte {
	return be.AppendUint32(append(b, 0, 8, 0, typ), v)
}

func appendPorts(b []byte, typ uint8, src, dst uint16) []byte {
	b = append(b, 0, 8, 0, typ)
	return be.AppendUint16(be.AppendUint16(b, src), dst)
}

// appendAddr4 writes a as 4 bytes; an address that is not IPv4 (the caller
// set the attribute inconsistently) becomes 0.0.0.0 rather than a panic.
func appendAddr4(b []byte, a netip.Addr) []byte {
	a = a.Unmap()
	if !a.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	v := a.As4()
	return append(b, v[:]...)
}

func appendAddr16(b []byte, a netip.Addr) []byte {
	v := a.As16()
	return append(b, v[:]...)
}

func appendAddrs4(b []byte, typ uint8, src, dst netip.Addr) []byte {
	return appendAddr4(appendAddr4(append(b, 0, 12, 0, typ), src), dst)
}

func appendAddrs16(b []byte, typ uint8, src, dst netip.Addr) []byte {
	return appendAddr16(appendAddr16(append(b, 0, 36, 0, typ), src), dst)
}

// appendName writes a NUL-terminated name, truncated so that the length
// field stays within what a legacy receiver accepts.
func appendName(b []byte, typ uint8, n *Name, maxLen int) []byte {
	s := n.Bytes()
	if len(s)+5 > maxLen {
		s = s[:maxLen-5]
	}
	b = appendAttrHdr(b, typ, len(s)+1)
	b = append(b, s...)
	b = append(b, 0)
	return pad(b, len(s)+1)
}

// pad appends the zero bytes that follow a payload of n bytes.
func pad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}
