package wire

// Decode decodes the message at the start of b into m and returns its
// length; the next message of the datagram starts there. It applies the
// checks of the legacy receiver (src/sync-mode.c, src/parse.c) and returns
// an *Error wrapping one of the Err sentinels on malformed input; then the
// rest of the datagram must be dropped too, as the legacy daemon does.
// ErrShort means b holds less than one whole message (for a stream link:
// wait for more bytes). m is overwritten, and nothing is allocated.
func Decode(b []byte, m *Message) (int, error) {
	if len(b) < HeaderLen {
		return 0, errAt(ErrShort, 0, -1, "%d bytes, header needs %d", len(b), HeaderLen)
	}
	if v := b[0] >> 4; v != Version {
		return 0, errAt(ErrVersion, 0, -1, "version %d, want %d", v, Version)
	}
	n := int(be.Uint16(b[2:]))
	if n < HeaderLen {
		return 0, errAt(ErrLength, 2, -1, "length %d below header size %d", n, HeaderLen)
	}
	if n > len(b) {
		return 0, errAt(ErrShort, 2, -1, "length %d, %d bytes available", n, len(b))
	}
	m.Header = Header{Type: Type(b[0] & 0x0f), Flags: Flags(b[1]), Len: uint16(n), Seq: be.Uint32(b[4:])}
	switch t := m.Type; {
	case t == TypeControl:
		if m.Flags&flagsRanged != 0 {
			if n < ControlLen {
				return 0, errAt(ErrLength, 2, -1, "length %d, ack/nack/resync need %d", n, ControlLen)
			}
			m.From, m.To = be.Uint32(b[8:]), be.Uint32(b[12:])
		}
	case t.IsCT():
		if err := m.Flow.decode(b[HeaderLen:n], HeaderLen); err != nil {
			return 0, err
		}
	case t.IsExp():
		if err := m.Exp.decode(b[HeaderLen:n], HeaderLen); err != nil {
			return 0, err
		}
	default:
		return 0, errAt(ErrType, 0, -1, "type %d", uint8(t))
	}
	return n, nil
}

// AppendMessage appends the wire form of m to b and returns the extended
// buffer. The length field is computed; for conntrack and expectation
// messages exactly the attributes in Flow.Attrs or Exp.Attrs are written,
// in the legacy daemon's order, and only types a 1.4.7 receiver knows.
// Control messages get From/To when they carry ACK, NACK or RESYNC.
func AppendMessage(b []byte, m *Message) []byte {
	start := len(b)
	b = append(b, Version<<4|byte(m.Type&0x0f), byte(m.Flags), 0, 0)
	b = be.AppendUint32(b, m.Seq)
	switch t := m.Type; {
	case t == TypeControl:
		if m.Flags&flagsRanged != 0 {
			b = be.AppendUint32(be.AppendUint32(b, m.From), m.To)
		}
	case t.IsCT():
		b = m.Flow.append(b)
	case t.IsExp():
		b = m.Exp.append(b)
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}
