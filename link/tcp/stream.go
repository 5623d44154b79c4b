package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ctsync/ctsync/link/wire"
)

// streamBuffer is the reassembly buffer of one inbound connection: 64 KiB
// as conntrackd's, which holds any message since the length field is 16
// bits. Unlike conntrackd each link has its own.
const streamBuffer = 1 << 16

// errCorrupt means the stream cannot be cut into messages any more: a
// length field below the header size. The connection must be dropped.
// next reports it only once the whole messages before it are returned.
var errCorrupt = errors.New("corrupt message stream")

// splitter cuts a TCP byte stream into whole messages using the length
// field of each message header, carrying a trailing partial message over
// to the next read.
type splitter struct {
	buf        []byte
	start, end int
}

func newSplitter() *splitter { return &splitter{buf: make([]byte, streamBuffer)} }

// reset drops buffered bytes, for a new connection.
func (s *splitter) reset() { s.start, s.end = 0, 0 }

// tail is where the next read goes; it is never empty.
func (s *splitter) tail() []byte {
	if s.end == len(s.buf) && s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	return s.buf[s.end:]
}

// wrote records n bytes read into tail.
func (s *splitter) wrote(n int) { s.end += n }

// next copies as many whole messages as fit into dst and returns their
// total length; 0 means more bytes are needed. Messages before a corrupt
// length are good, as conntrackd processes them too: they are returned,
// and the corruption reported by the call after.
func (s *splitter) next(dst []byte) (int, error) {
	data := s.buf[s.start:s.end]
	off := 0
	for len(data)-off >= wire.HeaderLen {
		l := int(binary.BigEndian.Uint16(data[off+2:]))
		if l < wire.HeaderLen {
			if off > 0 {
				break
			}
			return 0, fmt.Errorf("%w: message length %d", errCorrupt, l)
		}
		if off+l > len(data) {
			break
		}
		if off+l > len(dst) {
			if off == 0 {
				return 0, fmt.Errorf("receive buffer of %d bytes is shorter than a %d-byte message", len(dst), l)
			}
			break
		}
		off += l
	}
	copy(dst, data[:off])
	s.start += off
	if s.start == s.end {
		s.start, s.end = 0, 0
	}
	return off, nil
}

// wholeMessages returns the number and total length of the whole messages
// at the start of b, which is a run of messages possibly cut at its end.
func wholeMessages(b []byte) (count, length int) {
	for len(b)-length >= wire.HeaderLen {
		l := int(binary.BigEndian.Uint16(b[length+2:]))
		if l < wire.HeaderLen || length+l > len(b) {
			break
		}
		length += l
		count++
	}
	return count, length
}
