package render

import (
	"strconv"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// Ended is a flow that left the kernel's table, as stats mode logs it:
// what the kernel's destroy event said of it.
type Ended struct {
	// Flow is the flow; its mark is printed when non-zero (see
	// AppendEndedText), its timeout never.
	Flow cache.Flow
	// Orig and Reply are the accounting counters of each direction,
	// printed when HasCounters (nf_conntrack_acct was on when the flow
	// began).
	Orig, Reply Traffic
	HasCounters bool
	// Start and Stop are the kernel's timestamps of the flow
	// (nf_conntrack_timestamp), zero when it sent none.
	Start, Stop time.Time
}

// AppendEndedText appends one line (no newline) for an ended flow as
// conntrackd's stats mode logs it after the time and a tab (dlog_ct in
// src/log.c: libnetfilter_conntrack's default format, no flags, of the
// destroy event's flow without its timeout). For example, with
// accounting and timestamps on:
//
//	icmp     1 src=198.51.100.1 dst=198.51.100.1 type=8 code=0 id=7 packets=2 bytes=168 src=198.51.100.1 dst=198.51.100.1 type=0 code=0 id=7 packets=2 bytes=168 delta-time=5
//
// The kernel leaves a zero mark out of a destroy event
// (ctnetlink_conntrack_event), so "mark=" appears only for a marked flow.
// delta-time is whole seconds from Start to Stop, or to now when the
// kernel gave no Stop, as libnetfilter_conntrack computes it.
func AppendEndedText(b []byte, e *Ended, now time.Time) []byte {
	start := len(b)
	f := &e.Flow
	proto := f.Orig.Proto
	name := protoName(proto)
	b = append(b, name...)
	for n := len(name); n < 8; n++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(proto), 10)
	b = append(b, ' ')
	if f.Has&cache.HasTCPState != 0 {
		s, _ := stateName(tcpStates[:], f.TCPState)
		b = append(append(b, s...), ' ')
	}
	if f.Has&cache.HasSCTPState != 0 {
		s, _ := stateName(sctpStates[:], f.SCTPState)
		b = append(append(b, s...), ' ')
	}
	if f.Has&cache.HasDCCPState != 0 {
		s, _ := stateName(dccpStates[:], f.DCCPState)
		b = append(append(b, s...), ' ')
	}
	b = appendTupleText(b, &f.Orig, proto, "")
	if e.HasCounters {
		b = appendCounters(b, e.Orig)
	}
	status := f.Has&cache.HasStatus != 0
	if status && f.Status&ipsSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	r := reply(f)
	b = appendTupleText(b, &r, proto, "")
	if e.HasCounters {
		b = appendCounters(b, e.Reply)
	}
	if status {
		switch {
		case f.Status&ipsHWOffload != 0:
			b = append(b, "[HW_OFFLOAD] "...)
		case f.Status&ipsOffload != 0:
			b = append(b, "[OFFLOAD] "...)
		case f.Status&ipsAssured != 0:
			b = append(b, "[ASSURED] "...)
		}
	}
	if f.Has&cache.HasMark != 0 && f.Mark != 0 {
		b = append(b, "mark="...)
		b = strconv.AppendUint(b, uint64(f.Mark), 10)
		b = append(b, ' ')
	}
	if f.Zone != 0 {
		b = append(b, "zone="...)
		b = strconv.AppendUint(b, uint64(f.Zone), 10)
		b = append(b, ' ')
	}
	if !e.Start.IsZero() {
		stop := e.Stop
		if stop.IsZero() {
			stop = now
		}
		// Whole seconds of each, then the difference, as
		// libnetfilter_conntrack does; a stop before the start (a
		// clock set back) prints 0.
		b = append(b, "delta-time="...)
		b = strconv.AppendInt(b, max(0, stop.Unix()-e.Start.Unix()), 10)
		b = append(b, ' ')
	}
	if f.Has&cache.HasHelper != 0 && f.Helper.Len() > 0 {
		b = append(b, "helper="...)
		b = appendPrintable(b, f.Helper.Bytes())
		b = append(b, ' ')
	}
	if len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

func appendCounters(b []byte, t Traffic) []byte {
	b = append(b, "packets="...)
	b = strconv.AppendUint(b, t.Packets, 10)
	b = append(b, " bytes="...)
	b = strconv.AppendUint(b, t.Bytes, 10)
	return append(b, ' ')
}

// AppendCtime appends t as C's ctime does, without its newline: the
// time stamp conntrackd puts before each line it logs (src/log.c), in
// the local time zone.
func AppendCtime(b []byte, t time.Time) []byte {
	return t.AppendFormat(b, time.ANSIC)
}
