package kbpf

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/internal/netnstest"
)

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
		k.ns.Exec(t, "conntrack", append([]string{"-I", "-t", "100"}, e.conntrackArgs()...)...)
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

// TestKernelFilter attaches compiled programs to a ctnetlink event socket
// and checks which events of real conntrack entries the kernel delivers.
func TestKernelFilter(t *testing.T) {
	k := newKernelTable(t)
	for _, tt := range kernelCases {
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

// TestConntrackdProgramDefects runs defectCases in the kernel.
func TestConntrackdProgramDefects(t *testing.T) {
	k := newKernelTable(t)
	for _, tt := range defectCases {
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
