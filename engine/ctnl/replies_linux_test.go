package ctnl

import (
	"fmt"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
)

// The reply loop stops at the ACK of a GET, which the kernel sends after a
// NLM_F_MULTI reply without any NLMSG_DONE: mdlayher/netlink v1.10 and
// later wait for the DONE there and hang.
func TestTableGetStopsAtAck(t *testing.T) {
	want := udpFlow(1)
	s := &fakeSock{}
	s.answer = func(msgs []netlink.Message) [][]byte {
		req := msgs[0]
		data, h, err := AppendRequest(nil, OpUpdate, want)
		if err != nil {
			panic(err)
		}
		reply := netlink.Message{Header: netlink.Header{Type: h.Type, Flags: netlink.Multi, Sequence: req.Header.Sequence}, Data: data}
		return [][]byte{datagram(reply), datagram(ack(req, 0))}
	}
	tb := newTable(s, TableConfig{}, nil)
	got, err := tb.Get(want.Orig, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Orig != want.Orig {
		t.Errorf("Get: %s, want %s", got.Orig, want.Orig)
	}
	if len(s.queue) != 0 {
		t.Errorf("%d datagrams left unread", len(s.queue))
	}
}

// A dump is streamed: each datagram is decoded and delivered before the
// next is read, and the dump ends at NLMSG_DONE.
func TestTableDumpStreams(t *testing.T) {
	s := &fakeSock{}
	const parts, perPart = 3, 4
	s.answer = func(msgs []netlink.Message) [][]byte {
		seq := msgs[0].Header.Sequence
		var out [][]byte
		for p := 0; p < parts; p++ {
			var ms []netlink.Message
			for i := 0; i < perPart; i++ {
				data, h, _ := AppendRequest(nil, OpUpdate, udpFlow(p*perPart+i))
				ms = append(ms, netlink.Message{Header: netlink.Header{Type: h.Type, Flags: netlink.Multi, Sequence: seq}, Data: data})
			}
			out = append(out, datagram(ms...))
		}
		return append(out, datagram(done(seq)))
	}
	tb := newTable(s, TableConfig{}, nil)
	var seen []string
	err := tb.Dump(FamilyAll, func(ev *Event) error {
		// Datagrams still queued: the dump is not materialised.
		seen = append(seen, fmt.Sprintf("%s/%d", ev.Flow.Orig.Src, len(s.queue)))
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != parts*perPart || seen[0] != "198.18.0.0/3" || seen[len(seen)-1] != "198.18.0.11/1" {
		t.Errorf("delivered %v", seen)
	}
}

// The timeout bounds the wait for each datagram, not the whole answer: a
// dump of a large table, whose consumer takes its time, goes on as long as
// the kernel keeps sending.
func TestTableDumpTimeoutIsPerDatagram(t *testing.T) {
	clock := time.Unix(1e9, 0)
	s := &fakeSock{clock: &clock, step: 2 * time.Second}
	const parts = 10
	s.answer = func(msgs []netlink.Message) [][]byte {
		seq := msgs[0].Header.Sequence
		var out [][]byte
		for p := 0; p < parts; p++ {
			data, h, _ := AppendRequest(nil, OpUpdate, udpFlow(p))
			out = append(out, datagram(netlink.Message{Header: netlink.Header{Type: h.Type, Flags: netlink.Multi, Sequence: seq}, Data: data}))
		}
		return append(out, datagram(done(seq)))
	}
	tb := newTable(s, TableConfig{Timeout: 5 * time.Second}, func() time.Time { return clock })
	n := 0
	err := tb.Dump(FamilyAll, func(*Event) error { n++; return nil }, nil)
	if err != nil || n != parts {
		t.Fatalf("dump of %d datagrams 2 s apart with a 5 s timeout: %d flows, %v", parts, n, err)
	}
}
