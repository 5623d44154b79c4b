package kbpf

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// entry is a synthetic conntrack entry (198.18.0.0/15 and 2001:db8::/32
// carry no traffic), named by its id: the source port or ICMP id, which
// the test reads back from the event.
type entry struct {
	id   uint16
	args string // conntrack -I arguments
}

var zoo = []entry{
	{1, "-p tcp -s 198.18.0.1 -d 198.18.0.2 --sport 1 --dport 80 --state ESTABLISHED"},
	{2, "-p tcp -s 198.18.0.1 -d 198.18.1.2 --sport 2 --dport 80 --state SYN_SENT"},
	{3, "-p udp -s 198.18.0.3 -d 198.18.0.4 --sport 3 --dport 53"},
	{4, "-p icmp -s 198.18.0.3 -d 198.18.0.4 --icmp-type 8 --icmp-code 0 --icmp-id 4"},
	{5, "-p tcp -s 198.18.5.1 -d 198.19.0.2 --sport 5 --dport 80 --state ESTABLISHED"},
	// DNAT: 198.18.0.2 is really 198.18.6.9. The kernel filter reads the
	// original destination, the user-space one the reply source.
	{6, "-p tcp -s 198.18.0.1 -d 198.18.0.2 --sport 6 --dport 80 --state ESTABLISHED " +
		"--reply-src 198.18.6.9 --reply-dst 198.18.0.1 --reply-port-src 80 --reply-port-dst 6"},
	{7, "-p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 7 --dport 80 --state ESTABLISHED"},
	{8, "-p tcp -s 2001:db8:1::5 -d 2001:db8:1::6 --sport 8 --dport 80 --state SYN_SENT"},
	{9, "-p udp -s 2001:db8:2::1 -d 2001:db8:2::2 --sport 9 --dport 53"},
	{10, "-p udp -s 2001:db8:1::7 -d 2001:db8:1::8 --sport 10 --dport 53"},
}

// kernelTable is a namespace whose conntrack NEW events a test can watch
// through a socket filter.
type kernelTable struct {
	ns *netnstest.NetNS
}

func newKernelTable(t *testing.T) *kernelTable {
	t.Helper()
	netnstest.RequirePrivileged(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no conntrack command (Debian package conntrack)")
		}
		t.Skip("skipping: no conntrack command (Debian package conntrack)")
	}
	ns := netnstest.NewNetNS(t)
	ns.Exec(t, "conntrack", "-F") // loads nf_conntrack_netlink if needed
	err := ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_events", []byte("1"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &kernelTable{ns: ns}
}

// passed inserts the entries into an empty table with prog attached to an
// event socket and returns the ids of the entries whose NEW event arrived.
// A second socket without a filter shows that every event was sent.
func (k *kernelTable) passed(t *testing.T, prog []bpf.RawInstruction, entries []entry) []uint16 {
	t.Helper()
	var filtered, all *netlink.Conn
	err := k.ns.Do(func() error {
		var err error
		cfg := &netlink.Config{Groups: 1 << (unix.NFNLGRP_CONNTRACK_NEW - 1)}
		if filtered, err = netlink.Dial(unix.NETLINK_NETFILTER, cfg); err != nil {
			return err
		}
		if all, err = netlink.Dial(unix.NETLINK_NETFILTER, cfg); err != nil {
			return err
		}
		return filtered.SetBPF(prog)
	})
	if filtered != nil {
		defer filtered.Close()
	}
	if all != nil {
		defer all.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	k.ns.Exec(t, "conntrack", "-F")
	for _, e := range entries {
		k.ns.Exec(t, "conntrack", append([]string{"-I", "-t", "100"}, strings.Fields(e.args)...)...)
	}
	// The kernel queues an event on every listening socket before
	// conntrack -I returns, so what has not arrived by now never will.
	if got := receiveIDs(t, all); len(got) != len(entries) {
		t.Fatalf("the unfiltered socket got events for %v, want all %d entries", got, len(entries))
	}
	return receiveIDs(t, filtered)
}

func receiveIDs(t *testing.T, c *netlink.Conn) []uint16 {
	t.Helper()
	var ids []uint16
	for {
		if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Receive()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			t.Fatal(err)
		}
		for _, m := range msgs {
			id, err := eventID(m.Data)
			if err != nil {
				t.Fatalf("event %x: %v", m.Data, err)
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// eventID reads the original tuple's source port or ICMP id.
func eventID(b []byte) (uint16, error) {
	if len(b) < 4 {
		return 0, errors.New("short message")
	}
	var id uint16
	ad, err := netlink.NewAttributeDecoder(b[4:]) // after struct nfgenmsg
	if err != nil {
		return 0, err
	}
	for ad.Next() {
		if ad.Type() != ctaTupleOrig {
			continue
		}
		ad.Nested(func(tuple *netlink.AttributeDecoder) error {
			for tuple.Next() {
				if tuple.Type() != ctaTupleProt {
					continue
				}
				tuple.Nested(func(proto *netlink.AttributeDecoder) error {
					proto.ByteOrder = binary.BigEndian
					for proto.Next() {
						switch proto.Type() {
						case 2, 4, 7: // CTA_PROTO_SRC_PORT, CTA_PROTO_ICMP_ID, CTA_PROTO_ICMPV6_ID
							id = proto.Uint16()
						}
					}
					return nil
				})
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, errors.New("no source port or ICMP id in the original tuple")
	}
	return id, nil
}

func ipv4Hosts(from, to int) []string { return seq("198.18.0.%d", from, to) }

// TestKernelFilter attaches compiled programs to a ctnetlink event socket
// and checks which events of real conntrack entries the kernel delivers.
func TestKernelFilter(t *testing.T) {
	k := newKernelTable(t)
	tests := []struct {
		name   string
		stages []filter.Stage
		want   []uint16
	}{
		{"protocol accept", []filter.Stage{protoStage(filter.Accept, 6)}, []uint16{1, 2, 5, 6, 7, 8}},
		{"protocol ignore", []filter.Stage{protoStage(filter.Ignore, 6)}, []uint16{3, 4, 9, 10}},
		{"protocol accept, several", []filter.Stage{protoStage(filter.Accept, 17, 1)}, []uint16{3, 4, 9, 10}},
		// Only TCP entries are tested; the others pass.
		{"state accept", []filter.Stage{stateStage(filter.Accept, established)}, []uint16{1, 3, 4, 5, 6, 7, 9, 10}},
		{"state ignore", []filter.Stage{stateStage(filter.Ignore, established)}, []uint16{2, 3, 4, 8, 9, 10}},
		// The original source and destination are tested: 6 goes (its
		// original destination is listed), 5 stays.
		{"address ignore, host", []filter.Stage{addrStage(filter.Ignore, "198.18.0.2")}, []uint16{2, 3, 4, 5, 7, 8, 9, 10}},
		{"address ignore, network", []filter.Stage{addrStage(filter.Ignore, "198.19.0.0/16")}, []uint16{1, 2, 3, 4, 6, 7, 8, 9, 10}},
		// Accept needs both ends listed (5's destination is not), and drops
		// IPv6 flows when no IPv6 entry is listed.
		{"address accept, IPv4 only", []filter.Stage{addrStage(filter.Accept, "198.18.0.0/16")}, []uint16{1, 2, 3, 4, 6}},
		// ... and IPv4 flows when no IPv4 entry is (conntrackd keeps them).
		{"address accept, IPv6 only", []filter.Stage{addrStage(filter.Accept, "2001:db8::/47")}, []uint16{7, 8, 10}},
		{"address accept, both families", []filter.Stage{addrStage(filter.Accept, "198.18.0.0/16", "2001:db8:2::/48")}, []uint16{1, 2, 3, 4, 6, 9}},
		// 8 and 10 are in the second IPv6 entry (conntrackd's program
		// misses them).
		{"address ignore, IPv6 list", []filter.Stage{addrStage(filter.Ignore, "2001:db8::1", "2001:db8:1::/48")}, []uint16{1, 2, 3, 4, 5, 6, 9}},
		// IPv6 events are not compared with IPv4 entries (conntrackd's
		// program drops them all here).
		{"address ignore, 5.0.1.0/24", []filter.Stage{addrStage(filter.Ignore, "5.0.1.0/24")}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		// 127 hosts need branches longer than 255 instructions.
		{"address accept, 127 hosts", []filter.Stage{addrStage(filter.Accept, ipv4Hosts(1, 127)...)}, []uint16{1, 3, 4, 6}},
		{"address ignore, 127 hosts", []filter.Stage{addrStage(filter.Ignore, ipv4Hosts(1, 127)...)}, []uint16{5, 7, 8, 9, 10}},
		{"address accept, 20 IPv6 networks", []filter.Stage{addrStage(filter.Accept, append(seq("2001:db8:%x::/48", 3, 21), "2001:db8:2::/48")...)}, []uint16{9}},
		{"chain", []filter.Stage{
			protoStage(filter.Accept, 6),
			addrStage(filter.Ignore, "198.19.0.0/16"),
			stateStage(filter.Accept, established),
		}, []uint16{1, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := Compile(filter.Settings{Stages: tt.stages})
			if err != nil {
				t.Fatal(err)
			}
			if got := k.passed(t, assemble(t, prog), zoo); !slices.Equal(got, tt.want) {
				t.Errorf("events for entries %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConntrackdProgramDefects runs the programs conntrackd 1.4.7 attaches
// (testdata/*.strace) next to Compile's for the same settings, on the
// entries where they differ: the defects the package comment lists.
func TestConntrackdProgramDefects(t *testing.T) {
	k := newKernelTable(t)
	tests := []struct {
		golden     string
		settings   filter.Settings
		entry      uint16
		conntrackd bool // the event passes conntrackd's program
		ours       bool
	}{
		// Ignore 2001:db8:1::/48, the second IPv6 entry: only the first
		// entry is ever compared.
		{"mixed", goldenSettings["mixed"], 10, true, false},
		// Accept 198.18.0.0/15 and 2001:db8::/32: the IPv4 destination
		// lookup escapes the IPv6 tuple and drops the flow.
		{"inverse", goldenSettings["inverse"], 7, false, true},
		// Accept 198.18.0.1 to .127: wrapped jumps drop listed hosts.
		{"ipv4-127", filter.Settings{Stages: []filter.Stage{addrStage(filter.Accept, ipv4Hosts(1, 127)...)}}, 1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var e []entry
			for _, z := range zoo {
				if z.id == tt.entry {
					e = append(e, z)
				}
			}
			got := len(k.passed(t, readStrace(t, tt.golden), e)) == 1
			if got != tt.conntrackd {
				t.Errorf("conntrackd's program: entry %d passes: %v, want %v", tt.entry, got, tt.conntrackd)
			}
			prog, err := Compile(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			got = len(k.passed(t, assemble(t, prog), e)) == 1
			if got != tt.ours {
				t.Errorf("Compile's program: entry %d passes: %v, want %v", tt.entry, got, tt.ours)
			}
		})
	}
}
