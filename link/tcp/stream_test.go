package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stream is messages of lengths 8, 16, 300 and 8 back to back, each
// filled with its index so misplaced bytes show.
func stream() ([]byte, []int) {
	lens := []int{8, 16, 300, 8}
	var b []byte
	for i, l := range lens {
		m := bytes.Repeat([]byte{byte(i)}, l)
		m[0] = 0x1a
		binary.BigEndian.PutUint16(m[2:], uint16(l))
		b = append(b, m...)
	}
	return b, lens
}

func TestSplitter(t *testing.T) {
	in, lens := stream()
	for _, tc := range []struct {
		name  string
		chunk int // bytes per read
		dst   int // receive buffer size
	}{
		{"one byte reads", 1, 1 << 16},
		{"odd reads", 7, 1 << 16},
		{"whole stream", len(in), 1 << 16},
		{"small receive buffer", len(in), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSplitter()
			dst := make([]byte, tc.dst)
			var got []byte
			for off := 0; off < len(in); off += tc.chunk {
				n := copy(s.tail(), in[off:min(off+tc.chunk, len(in))])
				s.wrote(n)
				for {
					m, err := s.next(dst)
					if err != nil {
						t.Fatal(err)
					}
					if m == 0 {
						break
					}
					// Every returned piece is whole messages.
					p := 0
					for p < m {
						p += int(binary.BigEndian.Uint16(dst[p+2:]))
					}
					if p != m {
						t.Fatalf("next returned %d bytes, which ends inside a message", m)
					}
					got = append(got, dst[:m]...)
				}
			}
			if !bytes.Equal(got, in) {
				t.Errorf("reassembled %d bytes, want the %d-byte stream of %d messages", len(got), len(in), len(lens))
			}
			if s.start != 0 || s.end != 0 {
				t.Errorf("%d bytes left over", s.end-s.start)
			}
		})
	}
}

func TestSplitterErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		dst     int
		corrupt bool
	}{
		{"length zero", []byte{0x1a, 0, 0, 0, 0, 0, 0, 0}, 100, true},
		{"length below header", []byte{0x1a, 0, 0, 7, 0, 0, 0, 0}, 100, true},
		{"message longer than receive buffer", append([]byte{0x1a, 0, 0, 16}, make([]byte, 12)...), 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSplitter()
			s.wrote(copy(s.tail(), tc.in))
			_, err := s.next(make([]byte, tc.dst))
			if err == nil {
				t.Fatal("next succeeded, want an error")
			}
			if got := errors.Is(err, errCorrupt); got != tc.corrupt {
				t.Errorf("errors.Is(%v, errCorrupt) = %v, want %v", err, got, tc.corrupt)
			}
		})
	}
}

// A stream near the buffer's end is compacted, so a 64 KiB buffer always
// takes one more whole message.
func TestSplitterCompacts(t *testing.T) {
	s := newSplitter()
	msg := make([]byte, 40000)
	msg[0] = 0x1a
	binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)))
	dst := make([]byte, 1<<16)
	for i := range 5 {
		for w := 0; w < len(msg); {
			n := copy(s.tail(), msg[w:])
			s.wrote(n)
			w += n
		}
		if n, err := s.next(dst); err != nil || n != len(msg) {
			t.Fatalf("message %d: next = %d, %v; want %d", i, n, err, len(msg))
		}
	}
}

func TestErrorQueue(t *testing.T) {
	q := errorQueue{bufs: make([][]byte, 2)}
	var dropped []bool
	for _, s := range []string{"a", "b", "c"} {
		dropped = append(dropped, q.push([]byte(s)))
	}
	if diff := cmp.Diff([]bool{false, false, true}, dropped); diff != "" {
		t.Errorf("push dropped (-want +got):\n%s", diff)
	}
	var got []string
	for q.n > 0 {
		got = append(got, string(q.peek()))
		q.pop()
	}
	if diff := cmp.Diff([]string{"b", "c"}, got); diff != "" {
		t.Errorf("queue, oldest dropped (-want +got):\n%s", diff)
	}
}

// Whole messages that arrived before a corrupt header are valid and must
// still be delivered, as conntrackd processes a buffer up to the bad
// message; only what follows the bad length is untrustworthy.
func TestSplitterKeepsMessagesBeforeCorruption(t *testing.T) {
	good := []byte{0x1a, 0, 0, 8, 0, 0, 0, 1}
	bad := []byte{0x1a, 0, 0, 4, 0, 0, 0, 0}
	s := newSplitter()
	s.wrote(copy(s.tail(), append(append(bytes.Clone(good), good...), bad...)))
	dst := make([]byte, 1<<16)
	n, err := s.next(dst)
	if n != 2*len(good) || err != nil {
		t.Errorf("next = %d, %v; want the %d bytes of the two good messages first, then the error", n, err, 2*len(good))
	}
}
