package link_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/internal/transport"
)

// Every link of the group fails to send (both TCP peers down, say): the
// group should not keep switching between them, each switch logging
// "device becomes dedicated link" and, with TCP, parking datagrams in
// another link's error queue.
func TestGroupStaysPutWhenEveryLinkFailsToSend(t *testing.T) {
	l0, l1 := newFake("first"), newFake("second")
	l0.fail, l1.fail = true, true
	g, err := link.NewGroup([]link.Link{l0, l1}, link.GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	switches, prev := 0, g.Active()
	for range 30 {
		g.Send([]byte("x"))
		if a := g.Active(); a != prev {
			switches++
			prev = a
		}
	}
	if switches > 1 {
		t.Errorf("30 failed sends on two failing links switched the active link %d times, want at most 1", switches)
	}
	// A second later the other link gets another chance, once.
	time.Sleep(1100 * time.Millisecond)
	stuck := g.Active()
	for range 30 {
		g.Send([]byte("x"))
	}
	if g.Active() == stuck {
		t.Errorf("a second after every link failed, failing sends never tried link %d again", 1-stuck)
	}
	// Once it sends again, failures count afresh.
	l0.fail, l1.fail = false, false
	if err := g.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	l0.fail, l1.fail = true, true
	before := g.Active()
	for range 3 {
		g.Send([]byte("x"))
	}
	if g.Active() == before {
		t.Errorf("after a successful send, %d failures did not move the group off link %d", 3, before)
	}
}

// Datagrams that arrived on link 0 before its carrier was lost are read
// after the group failed over to link 1. Valid on them (as the engine
// calls it for every valid message) must not make the carrier-less link
// active again: sends on it vanish without an error, and no interface
// event comes to move the group off it.
func TestIntegrationGroupValidIgnoresLinkWithoutCarrier(t *testing.T) {
	netnstest.RequirePrivileged(t)
	lab := newTwoLinkLab(t)
	ga, gb := lab.ga, lab.gb

	// B sends three datagrams on link 0 that A's engine has not read yet.
	msg := []byte{0x1a, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for range 3 {
		if err := gb.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	// B's end of pair 0 goes down: A's end loses its carrier, A fails over.
	lab.nsB.SetLink(t, lab.b0, "down")
	waitActive(t, ga, 1)

	// A's engine reads the backlog, all from link 0, and calls Valid.
	buf := make([]byte, 1<<16)
	for range 3 {
		_, i, err := ga.Recv(buf)
		if err != nil {
			t.Fatal(err)
		}
		ga.Valid(i)
	}
	// Sends on a carrier-less veth report success, so the send-error
	// rule never moves the group off it either.
	failed := 0
	for range 5 {
		if ga.Send(msg) != nil {
			failed++
		}
	}
	time.Sleep(100 * time.Millisecond)
	st := ga.Status()
	if a := ga.Active(); a != 1 {
		t.Errorf("after reading datagrams queued before link 0 lost its carrier, active link = %d (%s, status %s), want 1; %d of 5 sends since failed",
			a, st[a].Name, st[a].State, failed)
	}
}

// blocker is a fake link whose Counters (called by Group.Status under
// the group's lock) waits until released, which stalls the interface
// watcher long enough for its netlink socket to overflow.
type blocker struct {
	*fake
	release chan struct{}
}

func (b *blocker) Counters() *link.Counters { <-b.release; return b.fake.Counters() }

// When rtnetlink events overflow the watcher's socket (ENOBUFS: a burst
// of interface changes on a busy host), the state of the links'
// interfaces must be read again: the event of the active link going down
// may be among the lost ones, and no further event may ever come for it.
func TestIntegrationGroupRereadsInterfacesAfterLostEvents(t *testing.T) {
	netnstest.RequirePrivileged(t)
	ns := netnstest.NewNetNS(t)
	ns.Exec(t, "ip", "link", "add", "rv0", "type", "veth", "peer", "name", "rv0p")
	ns.Exec(t, "ip", "link", "set", "rv0p", "up")
	ns.Exec(t, "ip", "link", "set", "rv0", "up")
	ns.WaitOperUp(t, "rv0")
	ns.Exec(t, "ip", "link", "add", "noise", "type", "veth", "peer", "name", "noisep")
	var g *link.Group
	var logs syncBuffer
	l0 := newFake("first")
	l1 := &blocker{newFake("second"), make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("rv0")
		if err != nil {
			return err
		}
		l0.Init("first", ifi, transport.DatagramOverhead)
		g, err = link.NewGroup([]link.Link{l0, l1}, link.GroupOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if g.Active() != 0 {
		t.Fatalf("active link %d at start, want 0", g.Active())
	}
	statusDone := make(chan struct{})
	go func() { g.Status(); close(statusDone) }()
	time.Sleep(50 * time.Millisecond) // Status now holds the group's lock

	// A burst of events from another interface fills the socket; then the
	// active link's interface goes down.
	var batch strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&batch, "link set noise %s\n", map[bool]string{true: "up", false: "down"}[i%2 == 0])
	}
	batch.WriteString("link set rv0 down\n")
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.Exec(t, "ip", "-batch", file)
	close(l1.release)
	<-statusDone

	deadline := time.Now().Add(2 * time.Second)
	for g.Active() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a := g.Active(); a != 1 {
		t.Errorf("rv0 is down but the group still sends on link %d and reports it %s; log:\n%s",
			a, g.Status()[0].State, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
