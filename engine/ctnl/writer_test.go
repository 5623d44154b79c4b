package ctnl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"syscall"
)

func udpFlow(i int) *Flow {
	src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	f := &Flow{
		Orig:    Tuple{Src: src, Dst: netip.MustParseAddr("198.18.255.1"), Proto: 17, SrcPort: 1000, DstPort: 53},
		Status:  StatusSeenReply,
		Timeout: 30,
	}
	f.Reply = f.Orig.Invert()
	return f
}

// kernelLike answers each message with its own ACK datagram, in order, as
// the kernel does; fail maps a request's index in the whole run to its
// errno.
func kernelLike(fail map[int]syscall.Errno, perDatagram int) func([]netlink.Message) [][]byte {
	n := 0
	return func(msgs []netlink.Message) [][]byte {
		var out [][]byte
		var cur []netlink.Message
		for _, m := range msgs {
			cur = append(cur, ack(m, fail[n]))
			n++
			if len(cur) == perDatagram {
				out = append(out, datagram(cur...))
				cur = nil
			}
		}
		if len(cur) > 0 {
			out = append(out, datagram(cur...))
		}
		return out
	}
}

// Every request gets its own outcome, whatever the batching and however
// the acknowledgements are packed into datagrams.
func TestWriterAttribution(t *testing.T) {
	for _, tc := range []struct {
		name        string
		n, batch    int
		perDatagram int
		fail        map[int]syscall.Errno
		wantSends   int
	}{
		{"all acknowledged", 10, 4, 1, nil, 3},
		{"one failure mid-batch", 10, 64, 1, map[int]syscall.Errno{4: syscall.EEXIST}, 1},
		{"failures in several batches", 10, 3, 1, map[int]syscall.Errno{0: syscall.ENOENT, 5: syscall.EBUSY, 9: syscall.EINVAL}, 4},
		{"acks packed in datagrams", 10, 8, 3, map[int]syscall.Errno{2: syscall.EEXIST, 7: syscall.EEXIST}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeSock{pid: 77, answer: kernelLike(tc.fail, tc.perDatagram)}
			w := newWriter(s, WriterConfig{Batch: tc.batch}, nil)
			reqs := make([]Request, tc.n)
			for i := range reqs {
				reqs[i] = Request{Op: OpCreate, Flow: udpFlow(i)}
			}
			errs := make([]error, tc.n)
			if err := w.Apply(reqs, errs); err != nil {
				t.Fatal(err)
			}
			for i, err := range errs {
				want, failed := tc.fail[i]
				if failed != (err != nil) || failed && !errors.Is(err, want) {
					t.Errorf("request %d: %v, want %v", i, err, want)
				}
			}
			if len(s.sent) != tc.wantSends {
				t.Errorf("%d sendmsg calls, want %d", len(s.sent), tc.wantSends)
			}
		})
	}
}

// Acknowledgements that arrive out of order, or that answer requests of
// an earlier batch, are matched by sequence number, not by position.
func TestWriterMatchesBySequence(t *testing.T) {
	s := &fakeSock{}
	s.answer = func(msgs []netlink.Message) [][]byte {
		stray := msgs[0]
		stray.Header.Sequence += 1000
		return [][]byte{
			datagram(ack(stray, syscall.EEXIST)),
			datagram(ack(msgs[2], 0), ack(msgs[0], syscall.ENOENT)),
			datagram(ack(msgs[0], syscall.EEXIST)), // a duplicate
			datagram(ack(msgs[1], syscall.EBUSY)),
		}
	}
	w := newWriter(s, WriterConfig{}, nil)
	reqs := []Request{{Op: OpUpdate, Flow: udpFlow(0)}, {Op: OpUpdate, Flow: udpFlow(1)}, {Op: OpUpdate, Flow: udpFlow(2)}}
	errs := make([]error, 3)
	if err := w.Apply(reqs, errs); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[0], syscall.ENOENT) || !errors.Is(errs[1], syscall.EBUSY) || errs[2] != nil {
		t.Errorf("outcomes %v, want ENOENT, EBUSY, nil", errs)
	}
}

// A request that does not encode fails alone and is not sent; a socket
// failure fails every request not yet acknowledged, and Apply says so.
func TestWriterFailures(t *testing.T) {
	s := &fakeSock{answer: func(msgs []netlink.Message) [][]byte {
		return [][]byte{datagram(ack(msgs[0], 0))}
	}}
	w := newWriter(s, WriterConfig{Batch: 3}, nil)
	reqs := []Request{{Op: OpCreate, Flow: udpFlow(0)}, {Op: OpCreate, Flow: &Flow{}}, {Op: OpCreate, Flow: udpFlow(2)}, {Op: OpCreate, Flow: udpFlow(3)}}
	errs := make([]error, len(reqs))
	err := w.Apply(reqs, errs)
	if err == nil {
		t.Fatal("Apply succeeded with a socket that lost acknowledgements")
	}
	if errs[0] != nil || !errors.Is(errs[1], errNoTuple) || errs[2] == nil || errs[3] == nil {
		t.Errorf("outcomes %v, want nil, no tuple, then the socket's error twice", errs)
	}
	if len(s.sent) != 1 || len(s.sent[0]) != 2 {
		t.Errorf("sent %d batches, want one of the two requests that encode", len(s.sent))
	}
	if err := w.Apply(reqs, errs[:1]); err == nil {
		t.Error("Apply accepted fewer outcome slots than requests")
	}
}

// Flows and expectations mix in one batch: each goes to its subsystem, in
// order, and each outcome is its own, named for what it is.
func TestWriterMixesExpectations(t *testing.T) {
	s := &fakeSock{answer: func(msgs []netlink.Message) [][]byte {
		return [][]byte{datagram(ack(msgs[0], 0), ack(msgs[1], syscall.ENOENT), ack(msgs[2], 0))}
	}}
	w := newWriter(s, WriterConfig{}, nil)
	m := udpFlow(0)
	all := netip.MustParseAddr("255.255.255.255")
	e := &Expect{
		Master: m.Orig,
		Tuple:  Tuple{Src: m.Orig.Dst, Dst: m.Orig.Src, Proto: m.Orig.Proto, DstPort: 5000},
		Mask:   Tuple{Src: all, Dst: all, Proto: m.Orig.Proto, DstPort: 0xffff},
	}
	reqs := []Request{{Op: OpCreate, Flow: m}, {Op: OpCreate, Expect: e}, {Op: OpDelete, Expect: e}}
	errs := make([]error, len(reqs))
	if err := w.Apply(reqs, errs); err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], syscall.ENOENT) || errs[2] != nil {
		t.Errorf("outcomes %v, want nil, ENOENT, nil", errs)
	}
	if errs[1] != nil && !strings.HasPrefix(errs[1].Error(), "create expectation "+e.Tuple.String()) {
		t.Errorf("error %q does not name the expectation", errs[1])
	}
	if len(s.sent) != 1 || len(s.sent[0]) != 3 {
		t.Fatalf("sent %d batches, want one of three requests", len(s.sent))
	}
	want := []netlink.HeaderType{subsysCT<<8 | msgNew, subsysCTExp<<8 | msgNew, subsysCTExp<<8 | msgDelete}
	for i, msg := range s.sent[0] {
		if msg.Header.Type != want[i] {
			t.Errorf("message %d of type %#x, want %#x", i, msg.Header.Type, want[i])
		}
	}
}
