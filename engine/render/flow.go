package render

import (
	"strconv"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// AppendFlowText appends one line (no newline) for a cached flow as
// conntrackd's `-i` and `-e` print it (src/cache-ct.c): the default
// format of libnetfilter_conntrack without the timeout, then
// " [active since Ns]", N the whole seconds since the object was
// created. For example:
//
//	tcp      6 ESTABLISHED src=198.51.100.1 dst=203.0.113.7 sport=40000 dport=80 src=203.0.113.7 dst=198.51.100.1 sport=80 dport=40000 [ASSURED] mark=0 [active since 12s]
//
// The reply tuple is built from the original one and the NAT (see
// docs/compat.md: conntrackd's external cache prints none). Labels,
// like conntrackd's, are not printed; the JSON form has them. Which
// entries to list is the caller's choice: conntrackd hides dead ones in
// FT-FW mode.
func AppendFlowText(b []byte, e *cache.Entry, now time.Time) []byte {
	b = appendFlowBody(b, &e.Flow)
	return appendActiveSince(b, e.Created, now)
}

// AppendFlowTextExpiring is AppendFlowText for a cache whose objects
// expire lifetime after their last update (ALARM's external cache): it
// adds " [expires in Ns]" before " [active since Ns]", as conntrackd's
// cache timer does (src/cache_timer.c).
func AppendFlowTextExpiring(b []byte, e *cache.Entry, now time.Time, lifetime time.Duration) []byte {
	b = appendFlowBody(b, &e.Flow)
	b = appendExpiresIn(b, e.Updated, lifetime, now)
	return appendActiveSince(b, e.Created, now)
}

func appendFlowBody(b []byte, f *cache.Flow) []byte {
	start := len(b)
	proto := f.Orig.Proto
	name := protoName(proto)
	b = append(b, name...)
	for n := len(name); n < 8; n++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(proto), 10)
	b = append(b, ' ')
	// conntrackd unsets the cached timeout before printing ("this may
	// confuse users"): it is the value of the last update, not counted
	// down.
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
	status := f.Has&cache.HasStatus != 0
	if status && f.Status&ipsSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	r := reply(f)
	b = appendTupleText(b, &r, proto, "")
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
	if f.Has&cache.HasMark != 0 {
		b = append(b, "mark="...)
		b = strconv.AppendUint(b, uint64(f.Mark), 10)
		b = append(b, ' ')
	}
	// The kernel reports no zone for the default zone 0, so conntrackd
	// prints none for it.
	if f.Zone != 0 {
		b = append(b, "zone="...)
		b = strconv.AppendUint(b, uint64(f.Zone), 10)
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

// appendPrintable appends a name from the kernel or a peer with every
// byte outside printable ASCII, and the space, written as '?', so that
// a name can neither break the line nor forge a field.
func appendPrintable(b, s []byte) []byte {
	for _, c := range s {
		if c <= ' ' || c >= 0x7f {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

// appendActiveSince appends conntrackd's " [active since Ns]": whole
// seconds of the wall clock, as its time(NULL) minus the creation time.
// A clock that went back gives 0, not a negative age.
func appendActiveSince(b []byte, created, now time.Time) []byte {
	b = append(b, " [active since "...)
	b = strconv.AppendInt(b, max(0, now.Unix()-created.Unix()), 10)
	return append(b, "s]"...)
}

// appendExpiresIn appends " [expires in Ns]", N the whole seconds left
// before an object last updated at updated expires.
func appendExpiresIn(b []byte, updated time.Time, lifetime time.Duration, now time.Time) []byte {
	b = append(b, " [expires in "...)
	b = strconv.AppendInt(b, expiresIn(updated, lifetime, now), 10)
	return append(b, "s]"...)
}

func expiresIn(updated time.Time, lifetime time.Duration, now time.Time) int64 {
	return max(0, int64(updated.Add(lifetime).Sub(now)/time.Second))
}
