package ctnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
)

// Family selects the flows of one address family, or all.
type Family uint8

// The families a dump can ask for.
const (
	FamilyAll  Family = afUnspec
	FamilyIPv4 Family = afInet
	FamilyIPv6 Family = afInet6
)

// TableConfig configures a Table.
type TableConfig struct {
	// NetNS is a network namespace file descriptor; 0 is the caller's.
	NetNS int
	// Timeout bounds the wait for each reply datagram (default 5s).
	Timeout time.Duration
}

// Table runs queries on the table: dumps, lookups, statistics, flushes.
// It is not safe for concurrent use.
type Table struct {
	c  *conn
	ev Event
}

// OpenTable opens a ctnetlink socket for queries.
func OpenTable(cfg TableConfig) (*Table, error) {
	s, err := dialSock(sockConfig{netns: cfg.NetNS, ack: true})
	if err != nil {
		return nil, err
	}
	return newTable(s, cfg, nil), nil
}

func newTable(s sock, cfg TableConfig, now func() time.Time) *Table {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Table{c: newConn(s, cfg.Timeout, now)}
}

// PortID is the netlink port id of the table's socket: the destroy events
// of its flushes carry it.
func (t *Table) PortID() uint32 { return t.c.s.portID() }

// Close closes the socket.
func (t *Table) Close() error { return t.c.s.close() }

// Dump streams the table's flows of family to fn, as the kernel sends
// them, one datagram at a time: the table is never held in memory. ev is
// reused after fn returns. An error from fn stops the delivery (the rest
// of the dump is read and dropped) and is returned. A message that does
// not decode is reported to skipped, if not nil, and dropped.
func (t *Table) Dump(family Family, fn func(ev *Event) error, skipped func(error)) error {
	return t.dump(subsysCT, family, fn, skipped)
}

// DumpExpect streams the expectations of family to fn, as Dump does.
func (t *Table) DumpExpect(family Family, fn func(ev *Event) error, skipped func(error)) error {
	return t.dump(subsysCTExp, family, fn, skipped)
}

func (t *Table) dump(subsys int, family Family, fn func(*Event) error, skipped func(error)) error {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsys<<8 | msgGet), Flags: netlink.Dump},
		Data:   nfgen(uint8(family)),
	}
	err := t.c.request(m, func(r netlink.Message) error {
		if err := decodeEvent(r, &t.ev); err != nil {
			if skipped != nil {
				skipped(err)
			}
			return nil
		}
		return fn(&t.ev)
	})
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	return nil
}

// Get returns the flow whose original tuple is orig, in zone. A missing
// flow is an error wrapping unix.ENOENT.
func (t *Table) Get(orig Tuple, zone uint16) (Flow, error) {
	f := Flow{Orig: orig, Zone: zone}
	data, _, err := AppendRequest(nil, OpDelete, &f)
	if err != nil {
		return Flow{}, fmt.Errorf("get: %w", err)
	}
	m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgGet)}, Data: data}
	var got *Flow
	err = t.c.request(m, func(r netlink.Message) error {
		if err := decodeEvent(r, &t.ev); err != nil {
			return err
		}
		got = &t.ev.Flow
		return nil
	})
	if err != nil {
		return Flow{}, fmt.Errorf("get %s: %w", orig, err)
	}
	if got == nil {
		return Flow{}, fmt.Errorf("get %s: acknowledged without a flow", orig)
	}
	return *got, nil
}

// Stats is the table's global statistics.
type Stats struct {
	Entries, MaxEntries uint32
}

// CTA_STATS_GLOBAL_* (nfnetlink_conntrack.h).
const (
	ctaStatsGlobalEntries    = 1
	ctaStatsGlobalMaxEntries = 2
)

// StatsGlobal returns the number of flows in the table and its limit.
func (t *Table) StatsGlobal() (Stats, error) {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgGetStats)},
		Data:   nfgen(afUnspec),
	}
	var st Stats
	seen := false
	err := t.c.request(m, func(r netlink.Message) error {
		if len(r.Data) < 4 {
			return errors.New("statistics reply too short")
		}
		ad, err := netlink.NewAttributeDecoder(r.Data[4:])
		if err != nil {
			return err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			switch ad.Type() {
			case ctaStatsGlobalEntries:
				st.Entries = ad.Uint32()
			case ctaStatsGlobalMaxEntries:
				st.MaxEntries = ad.Uint32()
			}
		}
		seen = true
		return ad.Err()
	})
	if err == nil && !seen {
		err = errors.New("acknowledged without statistics")
	}
	if err != nil {
		return Stats{}, fmt.Errorf("global statistics: %w", err)
	}
	return st, nil
}

// Flush removes every flow. It takes no family: the kernel flushes all
// families whatever the request's (as conntrack -F -f ipv4 shows on Linux
// 6.18).
func (t *Table) Flush() error {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgDelete)},
		Data:   nfgen(afUnspec),
	}
	if err := t.c.request(m, func(netlink.Message) error { return nil }); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// FlushMark removes the flows whose mark, masked with mask, equals mark
// (the kernel's ctnetlink_flush_conntrack filter).
func (t *Table) FlushMark(mark, mask uint32) error {
	e := encoder{b: nfgen(afUnspec)}
	e.u32(ctaMark, mark)
	e.u32(ctaMarkMask, mask)
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | msgDelete)},
		Data:   e.b,
	}
	if err := t.c.request(m, func(netlink.Message) error { return nil }); err != nil {
		return fmt.Errorf("flush mark %#x/%#x: %w", mark, mask, err)
	}
	return nil
}
