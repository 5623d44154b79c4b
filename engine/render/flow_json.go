package render

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

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
