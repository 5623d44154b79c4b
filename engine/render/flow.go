package render

import (
	"encoding/binary"
	"math/bits"
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

// AppendFlowJSON appends a cached flow as one JSON object (no newline),
// with the fields docs/control.md lists. Optional attributes the entry
// lacks are left out.
func AppendFlowJSON(b []byte, e *cache.Entry, now time.Time) []byte {
	b = appendFlowFields(b, e, now)
	return append(b, '}')
}

// AppendFlowJSONExpiring is AppendFlowJSON with "expires_in", the whole
// seconds before the object expires, for a cache whose objects expire
// lifetime after their last update (see AppendFlowTextExpiring).
func AppendFlowJSONExpiring(b []byte, e *cache.Entry, now time.Time, lifetime time.Duration) []byte {
	b = appendFlowFields(b, e, now)
	b = appendIntField(b, "expires_in", expiresIn(e.Updated, lifetime, now))
	return append(b, '}')
}

func appendFlowFields(b []byte, e *cache.Entry, now time.Time) []byte {
	f := &e.Flow
	proto := f.Orig.Proto
	b = append(b, `{"family":`...)
	b = appendWord(b, family(f.Orig.Src))
	b = appendWordField(b, "proto", protoName(proto))
	b = appendUintField(b, "protonum", uint64(proto))
	// One "state": the protocol's own, or, for a flow that carries
	// another protocol's (a peer may send anything), the first known.
	tcp, sctp, dccp := f.Has&cache.HasTCPState != 0, f.Has&cache.HasSCTPState != 0, f.Has&cache.HasDCCPState != 0
	switch {
	case proto == protoSCTP && sctp:
		b = appendStateField(b, sctpStates[:], f.SCTPState)
	case proto == protoDCCP && dccp:
		b = appendStateField(b, dccpStates[:], f.DCCPState)
	case tcp:
		b = appendStateField(b, tcpStates[:], f.TCPState)
	case sctp:
		b = appendStateField(b, sctpStates[:], f.SCTPState)
	case dccp:
		b = appendStateField(b, dccpStates[:], f.DCCPState)
	}
	b = appendTupleJSON(appendKey(b, "orig"), &f.Orig, proto)
	r := reply(f)
	b = appendTupleJSON(appendKey(b, "reply"), &r, proto)
	if f.Has&cache.HasStatus != 0 {
		b = appendFlags(appendKey(b, "status"), f.Status, statusNames[:])
	}
	if f.Has&cache.HasTimeout != 0 {
		b = appendUintField(b, "timeout", uint64(f.Timeout))
	}
	if f.Has&cache.HasMark != 0 {
		b = appendUintField(b, "mark", uint64(f.Mark))
	}
	b = appendUintField(b, "zone", uint64(f.Zone))
	if f.Has&cache.HasSNAT != 0 && f.SNAT.IsValid() {
		b = appendAddr(append(appendKey(b, "snat"), '"'), f.SNAT)
		b = append(b, '"')
	}
	if f.Has&cache.HasSNATPort != 0 {
		b = appendUintField(b, "snat_port", uint64(f.SNATPort))
	}
	if f.Has&cache.HasDNAT != 0 && f.DNAT.IsValid() {
		b = appendAddr(append(appendKey(b, "dnat"), '"'), f.DNAT)
		b = append(b, '"')
	}
	if f.Has&cache.HasDNATPort != 0 {
		b = appendUintField(b, "dnat_port", uint64(f.DNATPort))
	}
	if f.Has&cache.HasMaster != 0 {
		b = appendTupleJSON(appendKey(b, "master"), &f.Master, f.Master.Proto)
	}
	if f.Has&cache.HasHelper != 0 {
		b = appendName(appendKey(b, "helper"), f.Helper.Bytes())
	}
	if f.Has&cache.HasLabels != 0 {
		b = appendLabels(appendKey(b, "labels"), &f.Labels)
	}
	if f.Has&cache.HasTCPWScale != 0 {
		b = appendUintField(b, "wscale_orig", uint64(f.TCPWScaleOrig))
		b = appendUintField(b, "wscale_reply", uint64(f.TCPWScaleReply))
	}
	if f.Has&cache.HasSCTPVTags != 0 {
		b = appendUintField(b, "vtag_orig", uint64(f.SCTPVTagOrig))
		b = appendUintField(b, "vtag_reply", uint64(f.SCTPVTagReply))
	}
	if f.Has&cache.HasDCCPRole != 0 {
		b = appendUintField(b, "dccp_role", uint64(f.DCCPRole))
	}
	if f.Has&cache.HasSeqAdj != 0 {
		s := &f.SeqAdj
		b = append(appendKey(b, "seqadj"), `{"orig":`...)
		b = appendSeqAdj(b, s[0], s[1], s[2])
		b = append(b, `,"reply":`...)
		b = appendSeqAdj(b, s[3], s[4], s[5])
		b = append(b, '}')
	}
	if f.Has&cache.HasSynproxy != 0 {
		s := &f.Synproxy
		b = append(appendKey(b, "synproxy"), `{"its":`...)
		b = strconv.AppendUint(b, uint64(s[0]), 10)
		b = appendUintField(b, "isn", uint64(s[1]))
		b = appendUintField(b, "tsoff", uint64(s[2]))
		b = append(b, '}')
	}
	return appendEntryFields(b, e.State, e.Created, e.Updated, now)
}

// appendEntryFields appends what the cache knows of an object: its
// state ("new", "alive", "dead"), its age (conntrackd's "active since")
// and the seconds since it last changed.
func appendEntryFields(b []byte, s cache.State, created, updated, now time.Time) []byte {
	b = appendWordField(b, "entry", s.String())
	b = appendIntField(b, "age", max(0, now.Unix()-created.Unix()))
	if updated.Before(created) {
		updated = created // never updated
	}
	return appendIntField(b, "idle", max(0, now.Unix()-updated.Unix()))
}

// appendStateField appends "state": the state's name, or its number as
// a string when it is beyond the names (the text form prints NONE, as
// libnetfilter_conntrack does, which hides the value).
func appendStateField(b []byte, table []string, s uint8) []byte {
	name, ok := stateName(table, s)
	if !ok {
		b = append(appendKey(b, "state"), '"')
		b = strconv.AppendUint(b, uint64(s), 10)
		return append(b, '"')
	}
	return appendWordField(b, "state", name)
}

// appendFlags appends the bits set in v as an array of names, a bit
// beyond names as "BIT<n>".
func appendFlags(b []byte, v uint32, names []string) []byte {
	b = append(b, '[')
	first := true
	for v != 0 {
		i := bits.TrailingZeros32(v)
		v &^= 1 << i
		if !first {
			b = append(b, ',')
		}
		first = false
		if i < len(names) {
			b = appendWord(b, names[i])
		} else {
			b = append(b, `"BIT`...)
			b = strconv.AppendUint(b, uint64(i), 10)
			b = append(b, '"')
		}
	}
	return append(b, ']')
}

// appendLabels appends the numbers of the connlabels set in l, the
// kernel's bitmap: unsigned longs in host order, label n being bit n%W
// of word n/W for the word size W (net/netfilter/nf_conntrack_labels.c),
// which the cache keeps as the kernel has it.
func appendLabels(b []byte, l *[16]byte) []byte {
	b = append(b, '[')
	first := true
	const wordBytes = bits.UintSize / 8
	for w := 0; w+wordBytes <= len(l); w += wordBytes {
		var v uint64
		if wordBytes == 8 {
			v = binary.NativeEndian.Uint64(l[w:])
		} else {
			v = uint64(binary.NativeEndian.Uint32(l[w:]))
		}
		for v != 0 {
			i := bits.TrailingZeros64(v)
			v &^= 1 << i
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendUint(b, uint64(w*8+i), 10)
		}
	}
	return append(b, ']')
}

func appendSeqAdj(b []byte, pos, before, after uint32) []byte {
	b = append(b, `{"pos":`...)
	b = strconv.AppendUint(b, uint64(pos), 10)
	b = appendUintField(b, "before", uint64(before))
	b = appendUintField(b, "after", uint64(after))
	return append(b, '}')
}
