// Package wire encodes and decodes the messages of the conntrackd sync
// protocol (version 1, as spoken by conntrackd 1.4.x) byte for byte: the
// 8- or 16-byte network header, conntrack and expectation state messages
// carried as TLV attributes, and the FTFW/NOTRACK control messages.
//
// Decoding fills a caller-owned Message without allocating; encoding
// appends to a caller-owned buffer. Several messages share a datagram:
// call Decode in a loop, advancing by the returned length.
package wire

import (
	"errors"
	"fmt"
)

// Version is the protocol version carried in the high nibble of byte 0.
// It has been 1 since conntrackd 0.9.9.
const Version = 1

// HeaderLen is the size of every message header; ControlLen is the size of
// ACK, NACK and RESYNC messages, which carry a [From, To] range.
const (
	HeaderLen  = 8  // NETHDR_SIZ
	ControlLen = 16 // NETHDR_ACK_SIZ
)

// Type is the message type in the low nibble of byte 0.
type Type uint8

const (
	TypeCTNew     Type = 0  // NET_T_STATE_CT_NEW
	TypeCTUpdate  Type = 1  // NET_T_STATE_CT_UPD
	TypeCTDelete  Type = 2  // NET_T_STATE_CT_DEL
	TypeExpNew    Type = 3  // NET_T_STATE_EXP_NEW
	TypeExpUpdate Type = 4  // NET_T_STATE_EXP_UPD
	TypeExpDelete Type = 5  // NET_T_STATE_EXP_DEL
	TypeControl   Type = 10 // NET_T_CTL
)

// IsCT reports whether messages of this type carry conntrack attributes.
func (t Type) IsCT() bool { return t <= TypeCTDelete }

// IsExp reports whether messages of this type carry expectation attributes.
func (t Type) IsExp() bool { return t >= TypeExpNew && t <= TypeExpDelete }

func (t Type) String() string {
	switch t {
	case TypeCTNew:
		return "ct-new"
	case TypeCTUpdate:
		return "ct-update"
	case TypeCTDelete:
		return "ct-delete"
	case TypeExpNew:
		return "exp-new"
	case TypeExpUpdate:
		return "exp-update"
	case TypeExpDelete:
		return "exp-delete"
	case TypeControl:
		return "control"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Flags is the header's flags byte. HELLO and HELLO_BACK may ride on any
// message; the others mark control messages and are never combined.
type Flags uint8

const (
	FlagResync    Flags = 1 << 1 // NET_F_RESYNC
	FlagNack      Flags = 1 << 2 // NET_F_NACK
	FlagAck       Flags = 1 << 3 // NET_F_ACK
	FlagAlive     Flags = 1 << 4 // NET_F_ALIVE
	FlagHello     Flags = 1 << 5 // NET_F_HELLO
	FlagHelloBack Flags = 1 << 6 // NET_F_HELLO_BACK

	// flagsRanged are the flags whose messages carry From and To.
	flagsRanged = FlagResync | FlagNack | FlagAck
)

// Header is the network header shared by every message.
type Header struct {
	Type  Type
	Flags Flags
	// Len is the whole message length as read by Decode; AppendMessage
	// computes it and ignores this field.
	Len uint16
	Seq uint32
	// From and To are the inclusive sequence range of ACK, NACK and
	// RESYNC (0, 0) messages; they are on the wire only for those.
	From, To uint32
}

// Ranged reports whether the message has the 16-byte form with From/To.
func (h *Header) Ranged() bool { return h.Type == TypeControl && h.Flags&flagsRanged != 0 }

// Message is one decoded message. Flow is meaningful for conntrack types
// (0-2), Exp for expectation types (3-5); neither for control messages.
type Message struct {
	Header
	Flow Flow
	Exp  Expect
}

// Sentinel errors; every decode error wraps one of them in an *Error.
var (
	ErrShort       = errors.New("truncated message")
	ErrVersion     = errors.New("unsupported protocol version")
	ErrType        = errors.New("unknown message type")
	ErrLength      = errors.New("bad message length")
	ErrAttrType    = errors.New("unknown attribute type")
	ErrAttrOverrun = errors.New("attribute overruns message")
	ErrAttrLen     = errors.New("bad attribute length")
)

// Error is a decode failure: what went wrong (Err, one of the sentinels),
// where (Offset from the start of the buffer given to Decode) and, for
// attribute errors, which attribute type (Attr, else -1).
type Error struct {
	Err    error
	Offset int
	Attr   int
	Detail string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("wire: offset %d: %v", e.Offset, e.Err)
	if e.Attr >= 0 {
		s += fmt.Sprintf(" (attribute %d)", e.Attr)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errAt(err error, off, attr int, format string, args ...any) error {
	return &Error{Err: err, Offset: off, Attr: attr, Detail: fmt.Sprintf(format, args...)}
}

// Name is a short NUL-terminated name on the wire (helper name, expectation
// function), kept inline so that decoding does not allocate.
type Name struct {
	n uint8
	b [31]byte
}

// MakeName returns s as a Name, truncated to 31 bytes.
func MakeName(s string) Name {
	var n Name
	n.n = uint8(copy(n.b[:], s))
	return n
}

func (n Name) String() string { return string(n.b[:n.n]) }

// Bytes returns the name without its NUL terminator; the slice aliases n.
func (n *Name) Bytes() []byte { return n.b[:n.n] }

// Len returns the name length in bytes, without the NUL terminator.
func (n Name) Len() int { return int(n.n) }

// setC stores a wire payload: the name ends at the first NUL, as the legacy
// receiver reads it with C string functions, and is cut to maxChars, what
// fits in an attribute of the legal length with its NUL (a payload without
// NUL is not a valid C string: the legacy receiver reads past it).
func (n *Name) setC(p []byte, maxChars int) {
	if len(p) > maxChars {
		p = p[:maxChars]
	}
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	n.b = [len(n.b)]byte{} // keep Names comparable with ==
	n.n = uint8(copy(n.b[:], p))
}
