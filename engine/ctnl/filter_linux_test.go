package ctnl

import (
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// A BPF program in EventsConfig.Filter is attached to the event socket:
// the events it rejects never arrive, while a socket without it, opened
// at the same time, receives them. The program keeps the events of TCP
// flows only, reading the protocol byte at a fixed offset that holds for
// the create requests of this test (tuple nest, IP nest of two IPv4
// addresses, protocol nest).
func TestKernelEventsFilter(t *testing.T) {
	k := newKernelNS(t)
	_, plain := k.listen(t, EventsConfig{Flows: true}, true)
	const protoOffset = 16 + 4 + 4 + 4 + 8 + 8 + 4 + 4 // nlmsghdr, nfgenmsg, tuple, ip, src, dst, proto nest, proto attr header
	_, filtered := k.listen(t, EventsConfig{Flows: true, Filter: []bpf.Instruction{
		bpf.LoadAbsolute{Off: protoOffset, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xffff},
	}}, true)

	udp := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 53)
	udp.Orig.Proto, udp.Reply.Proto = 17, 17
	udp.Present = 0
	k.mustApply(t, OpCreate, udp)
	tcp := tcpFlow("198.18.0.2", "198.18.1.2", 40000, 80)
	k.mustApply(t, OpCreate, tcp)

	plain.waitFor(t, "both events without a filter", func() bool { return len(plain.events) >= 2 })
	filtered.waitFor(t, "the TCP event through the filter", func() bool { return len(filtered.events) >= 1 })
	filtered.mu.Lock()
	defer filtered.mu.Unlock()
	var got []string
	for _, ev := range filtered.events {
		got = append(got, ev.Flow.Orig.String())
	}
	if len(got) != 1 || filtered.events[0].Flow.Orig != tcp.Orig {
		t.Errorf("filtered socket got %s, want only %s", strings.Join(got, ", "), tcp.Orig)
	}
}

// A program that does not assemble is refused before a socket is opened.
func TestListenEventsBadFilter(t *testing.T) {
	_, err := ListenEvents(EventsConfig{Flows: true, Filter: []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 3}}})
	if err == nil || !strings.Contains(err.Error(), "event filter") {
		t.Errorf("ListenEvents with a 3-byte load: %v, want an error about the event filter", err)
	}
}
