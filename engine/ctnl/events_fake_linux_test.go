package ctnl

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// eventMsg is the kernel's event for f, as if caused by port pid.
func eventMsg(t *testing.T, op Op, f *Flow, pid uint32) netlink.Message {
	t.Helper()
	data, h, err := AppendRequest(nil, op, f)
	if err != nil {
		t.Fatal(err)
	}
	h.PID = pid
	return netlink.Message{Header: h, Data: data}
}

// The receiver delivers events in order with their port id, reports an
// overrun (growing the buffer by doubling up to the maximum, keeping it
// when the kernel refuses) and goes on, and skips what does not decode.
func TestEventsFake(t *testing.T) {
	newMsg := eventMsg(t, OpCreate, udpFlow(1), 0)
	updMsg := eventMsg(t, OpUpdate, udpFlow(1), 99)
	delMsg := eventMsg(t, OpDelete, udpFlow(1), 0)
	delMsg.Header.Type = netlink.HeaderType(subsysCT<<8 | msgDelete)
	garbage := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgNew)}, Data: []byte{2, 0, 0, 0, 8, 0}}
	for _, tc := range []struct {
		name         string
		sock         *fakeSock
		cfg          EventsConfig
		wantTypes    []EventType
		wantPIDs     []uint32
		wantOverruns []int
		wantBufs     []int
		wantSkipped  int
	}{{
		name:      "in order, one datagram each",
		sock:      &fakeSock{queue: [][]byte{datagram(newMsg), datagram(updMsg), datagram(delMsg)}},
		wantTypes: []EventType{EventNew, EventUpdate, EventDestroy},
		wantPIDs:  []uint32{0, 99, 0},
	}, {
		name:      "several in one datagram",
		sock:      &fakeSock{queue: [][]byte{datagram(newMsg, updMsg, delMsg)}},
		wantTypes: []EventType{EventNew, EventUpdate, EventDestroy},
		wantPIDs:  []uint32{0, 99, 0},
	}, {
		name: "overruns grow the buffer up to the maximum",
		sock: &fakeSock{
			recvErr: []error{unix.ENOBUFS, unix.ENOBUFS, unix.ENOBUFS},
			queue:   [][]byte{datagram(updMsg)},
		},
		cfg:          EventsConfig{ReadBuffer: 1000, ReadBufferMax: 3000},
		wantTypes:    []EventType{EventUpdate},
		wantPIDs:     []uint32{99},
		wantOverruns: []int{2000, 3000, 3000},
		wantBufs:     []int{2000, 3000},
	}, {
		name:         "overrun with growth refused",
		sock:         &fakeSock{refuse: true, recvErr: []error{unix.ENOBUFS}},
		cfg:          EventsConfig{ReadBuffer: 1000, ReadBufferMax: 3000},
		wantOverruns: []int{1000},
	}, {
		name:        "undecodable messages are skipped",
		sock:        &fakeSock{queue: [][]byte{datagram(garbage, updMsg), {1, 2, 3}, datagram(delMsg)}},
		wantTypes:   []EventType{EventUpdate, EventDestroy},
		wantPIDs:    []uint32{99, 0},
		wantSkipped: 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvents(tc.sock, tc.cfg)
			r := newRecorder()
			// The fake's reads fail once its datagrams are read:
			// a socket failure, not a Close.
			if err := e.Run(r); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Run: %v, want the socket's error", err)
			}
			var types []EventType
			var pids []uint32
			for _, ev := range r.events {
				types = append(types, ev.Type)
				pids = append(pids, ev.PortID)
			}
			if !equal(types, tc.wantTypes) || !equal(pids, tc.wantPIDs) {
				t.Errorf("events %v from %v, want %v from %v", types, pids, tc.wantTypes, tc.wantPIDs)
			}
			if !equal(r.overruns, tc.wantOverruns) || !equal(tc.sock.bufs, tc.wantBufs) {
				t.Errorf("overruns %v, buffers asked %v; want %v, %v", r.overruns, tc.sock.bufs, tc.wantOverruns, tc.wantBufs)
			}
			if len(r.skipped) != tc.wantSkipped {
				t.Errorf("skipped %v, want %d", r.skipped, tc.wantSkipped)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The kernel's extended acknowledgement explains an error.
func TestAckErrorMessage(t *testing.T) {
	req := eventMsg(t, OpCreate, udpFlow(1), 1)
	m := ack(req, unix.EINVAL)
	m.Header.Flags |= nlmFAckTLVs
	ad := netlink.NewAttributeEncoder()
	ad.String(nlmsgerrMsg, "missing CTA_TIMEOUT")
	tlv, err := ad.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m.Data = append(m.Data, tlv...)
	err = ackError(m)
	if !errors.Is(err, unix.EINVAL) || err.Error() != "invalid argument: missing CTA_TIMEOUT" {
		t.Errorf("got %v", err)
	}
}

// batchRecorder is a BatchHandler that logs what it is given, in order.
type batchRecorder struct {
	log   []string
	types []EventType
}

func (r *batchRecorder) Event(ev *Event) { r.log = append(r.log, "event") }
func (r *batchRecorder) Events(evs []Event) {
	r.log = append(r.log, fmt.Sprintf("events %d", len(evs)))
	for _, ev := range evs {
		r.types = append(r.types, ev.Type)
	}
}
func (r *batchRecorder) Overrun(int)   { r.log = append(r.log, "overrun") }
func (r *batchRecorder) Skipped(error) { r.log = append(r.log, "skipped") }

// A BatchHandler gets the events that were queued together in one call,
// at most MaxBatch, handed over before the receiver waits, and its
// overruns and skipped messages in their place between batches.
func TestEventsFakeBatches(t *testing.T) {
	newMsg := eventMsg(t, OpCreate, udpFlow(1), 0)
	updMsg := eventMsg(t, OpUpdate, udpFlow(1), 99)
	garbage := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgNew)}, Data: []byte{2, 0, 0, 0, 8, 0}}
	queue := [][]byte{datagram(newMsg), datagram(updMsg), datagram(garbage, updMsg), {1, 2, 3}}
	for range MaxBatch + 6 {
		queue = append(queue, datagram(newMsg))
	}
	s := &fakeSock{recvErr: []error{unix.ENOBUFS}, queue: queue}
	r := &batchRecorder{}
	if err := newEvents(s, EventsConfig{}).Run(r); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run: %v, want the socket's error", err)
	}
	want := []string{"overrun", "events 2", "skipped", "events 1", "skipped", fmt.Sprintf("events %d", MaxBatch), "events 6"}
	if !equal(r.log, want) {
		t.Errorf("handler got %q, want %q", r.log, want)
	}
	if len(r.types) != 3+MaxBatch+6 || r.types[0] != EventNew || r.types[1] != EventUpdate || r.types[2] != EventUpdate || r.types[3] != EventNew {
		t.Errorf("event types %v", r.types)
	}
}
