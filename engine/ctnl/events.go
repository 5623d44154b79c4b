package ctnl

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
)

// Multicast groups of ctnetlink events (enum nfnetlink_groups).
const (
	groupCTNew        = 1
	groupCTUpdate     = 2
	groupCTDestroy    = 3
	groupCTExpNew     = 4
	groupCTExpUpdate  = 5
	groupCTExpDestroy = 6
)

// EventsConfig configures an event receiver, as conntrackd's Netlink*
// settings do (src/netlink.c, src/run.c).
type EventsConfig struct {
	// NetNS is a network namespace file descriptor; 0 is the caller's.
	NetNS int
	// Flows subscribes to flow events (new, update, destroy) and
	// Expectations to expectation events, as conntrackd does.
	Flows, Expectations bool
	// ReadBuffer is the socket's initial receive buffer in bytes (0:
	// the system's default). On an overrun it doubles, up to
	// ReadBufferMax (NetlinkBufferSizeMaxGrowth); without an initial
	// size, or with a max not above it, the buffer does not grow.
	ReadBuffer, ReadBufferMax int
	// NoENOBUFS hides overruns (NETLINK_NO_ENOBUFS): events are lost
	// silently. BroadcastError makes the kernel report failed deliveries
	// to the sender of the change (NETLINK_BROADCAST_ERROR). Together
	// they are conntrackd's NetlinkEventsReliable.
	NoENOBUFS, BroadcastError bool
	// Filter is a classic BPF program attached to the socket, so that
	// the kernel drops the events it rejects before they are queued:
	// conntrackd's "Filter From Kernelspace" (filter/kbpf compiles it).
	// Nil attaches nothing.
	Filter []bpf.Instruction
}

// Handler receives what an event receiver reads, in the kernel's order,
// on the receiver's goroutine.
type Handler interface {
	// Event is one event; ev is reused after the call returns.
	Event(ev *Event)
	// Overrun says that events were lost because the socket's queue
	// overflowed: the table must be resynchronised. readBuffer is the
	// receive buffer size from now on.
	Overrun(readBuffer int)
	// Skipped is a message that did not decode; it is dropped.
	Skipped(err error)
}

// BatchHandler is a Handler that takes events in batches: every event
// the socket holds when the receiver reads, up to MaxBatch, in one call.
// The kernel sends each event in a datagram of its own; handing them
// over one by one would wake the handler's consumer once per event.
type BatchHandler interface {
	Handler
	// Events is the next events, in the kernel's order; evs and what
	// it holds are reused after the call returns. Overrun and Skipped
	// are called between batches, in order.
	Events(evs []Event)
}

// MaxBatch is the most events a BatchHandler is given at once.
const MaxBatch = 32

// Events receives ctnetlink events on one socket with one reader, so
// events of one flow are delivered in the order the kernel sent them.
type Events struct {
	s          sock
	closed     atomic.Bool
	buf        []byte
	readBuffer int
	max        int
	ev         Event
	// batch holds the events read for a BatchHandler and not yet
	// handed over.
	batch []Event
}

// ListenEvents opens a socket subscribed to the events cfg asks for.
// Subscribe before dumping the table: a flow changed between the dump and
// the subscription would otherwise be missed.
func ListenEvents(cfg EventsConfig) (*Events, error) {
	var groups []uint32
	if cfg.Flows {
		groups = append(groups, groupCTNew, groupCTUpdate, groupCTDestroy)
	}
	if cfg.Expectations {
		groups = append(groups, groupCTExpNew, groupCTExpUpdate, groupCTExpDestroy)
	}
	if len(groups) == 0 {
		return nil, errors.New("listen to ctnetlink events: neither flows nor expectations asked for")
	}
	var prog []bpf.RawInstruction
	if cfg.Filter != nil {
		var err error
		if prog, err = bpf.Assemble(cfg.Filter); err != nil {
			return nil, fmt.Errorf("listen to ctnetlink events: assemble the event filter: %w", err)
		}
	}
	s, err := dialSock(sockConfig{
		netns:          cfg.NetNS,
		filter:         prog,
		groups:         groups,
		readBuffer:     cfg.ReadBuffer,
		noENOBUFS:      cfg.NoENOBUFS,
		broadcastError: cfg.BroadcastError,
	})
	if err != nil {
		return nil, err
	}
	return newEvents(s, cfg), nil
}

func newEvents(s sock, cfg EventsConfig) *Events {
	return &Events{s: s, buf: make([]byte, recvBufSize), readBuffer: cfg.ReadBuffer, max: cfg.ReadBufferMax}
}

// Close stops Run and closes the socket.
func (e *Events) Close() error {
	e.closed.Store(true)
	return e.s.close()
}

// SetFilter replaces the event filter while Run goes on (a reload of the
// configuration): SO_ATTACH_FILTER swaps the program in one step, so each
// event meets either the old or the new one. nil removes it.
func (e *Events) SetFilter(prog []bpf.Instruction) error {
	fs, ok := e.s.(interface {
		setFilter([]bpf.RawInstruction) error
	})
	if !ok {
		return errors.New("set the event filter: not supported by this socket")
	}
	var raw []bpf.RawInstruction
	if prog != nil {
		var err error
		if raw, err = bpf.Assemble(prog); err != nil {
			return fmt.Errorf("set the event filter: assemble: %w", err)
		}
	}
	if err := fs.setFilter(raw); err != nil {
		return fmt.Errorf("set the event filter: %w", err)
	}
	return nil
}

// ReadBuffer is the receive buffer size asked for last (0: the default).
func (e *Events) ReadBuffer() int { return e.readBuffer }

// Run reads events and hands them to h until Close is called (then it
// returns nil) or the socket fails. An overrun is not an error: it is
// reported to h.Overrun and reading goes on. A BatchHandler is given the
// events read without waiting, in batches; the batch is handed over
// before Run waits for the socket, so no event waits for the next.
func (e *Events) Run(h Handler) error {
	bh, _ := h.(BatchHandler)
	if bh != nil && e.batch == nil {
		e.batch = make([]Event, 0, MaxBatch)
	}
	// flush hands the batch over; without a BatchHandler the batch
	// stays empty.
	flush := func() {
		if len(e.batch) > 0 {
			bh.Events(e.batch)
			e.batch = e.batch[:0]
		}
	}
	var idle func()
	if bh != nil {
		idle = flush
	}
	for {
		n, err := e.s.recv(e.buf, idle)
		if errors.Is(err, syscall.ENOBUFS) {
			flush()
			h.Overrun(e.grow())
			continue
		}
		if err != nil {
			flush()
			if e.closed.Load() {
				return nil
			}
			return fmt.Errorf("receive ctnetlink events: %w", err)
		}
		err = eachMessage(e.buf[:n], func(m netlink.Message) error {
			ev := &e.ev
			if bh != nil {
				if len(e.batch) == MaxBatch {
					flush()
				}
				e.batch = e.batch[:len(e.batch)+1]
				ev = &e.batch[len(e.batch)-1]
			}
			if err := decodeEvent(m, ev); err != nil {
				if bh != nil {
					e.batch = e.batch[:len(e.batch)-1]
				}
				flush()
				h.Skipped(fmt.Errorf("event from port %d: %w", m.Header.PID, err))
				return nil
			}
			if bh == nil {
				h.Event(ev)
			}
			return nil
		})
		if err != nil {
			flush()
			h.Skipped(err)
		}
	}
}

// grow doubles the receive buffer, up to the maximum, as conntrackd does
// on an overrun (src/run.c); it keeps the old size when the kernel
// refuses.
func (e *Events) grow() int {
	if e.max <= e.readBuffer || e.readBuffer <= 0 {
		return e.readBuffer
	}
	n := min(2*e.readBuffer, e.max)
	if _, err := e.s.setReadBuffer(n); err == nil {
		e.readBuffer = n
	}
	return e.readBuffer
}
