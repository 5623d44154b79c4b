package render

import (
	"strconv"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// AppendExpectText appends one line (no newline) for a cached
// expectation as conntrackd's `-i expect` and `-e expect` print it
// (src/cache-exp.c): libnetfilter_conntrack's default expectation format
// without the timeout, then " [active since Ns]". For example:
//
//	proto=6 src=198.51.100.1 dst=203.0.113.7 sport=0 dport=41000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=198.51.100.1 master-dst=203.0.113.7 sport=40000 dport=21 class=0 helper=ftp [active since 3s]
//
// The NAT and the expectation function are not printed, as in
// conntrackd; the JSON form has them.
func AppendExpectText(b []byte, e *cache.ExpEntry, now time.Time) []byte {
	x := &e.Expect
	start := len(b)
	proto := x.Tuple.Proto
	b = append(b, "proto="...)
	b = strconv.AppendUint(b, uint64(proto), 10)
	b = append(b, ' ')
	b = appendTupleText(b, &x.Tuple, proto, "")
	if x.Has&cache.ExpHasMask != 0 {
		b = appendTupleText(b, &x.Mask, proto, "mask-")
	}
	if x.Has&cache.ExpHasMaster != 0 {
		b = appendTupleText(b, &x.Master, x.Master.Proto, "master-")
	}
	if x.Zone != 0 {
		b = append(b, "zone="...)
		b = strconv.AppendUint(b, uint64(x.Zone), 10)
		b = append(b, ' ')
	}
	if x.Has&cache.ExpHasFlags != 0 {
		n := len(b)
		for i, name := range expectFlagNames {
			if x.Flags&(1<<i) == 0 {
				continue
			}
			if len(b) > n {
				b = append(b, ',')
			}
			b = append(b, name...)
		}
		if len(b) > n {
			b = append(b, ' ')
		}
	}
	if x.Has&cache.ExpHasClass != 0 {
		b = append(b, "class="...)
		b = strconv.AppendUint(b, uint64(x.Class), 10)
		b = append(b, ' ')
	}
	if x.Has&cache.ExpHasHelper != 0 && x.Helper.Len() > 0 {
		b = append(b, "helper="...)
		b = appendPrintable(b, x.Helper.Bytes())
		b = append(b, ' ')
	}
	if len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return appendActiveSince(b, e.Created, now)
}

// AppendExpectJSON appends a cached expectation as one JSON object (no
// newline), with the fields docs/control.md lists.
func AppendExpectJSON(b []byte, e *cache.ExpEntry, now time.Time) []byte {
	x := &e.Expect
	proto := x.Tuple.Proto
	b = append(b, `{"family":`...)
	b = appendWord(b, family(x.Tuple.Src))
	b = appendWordField(b, "proto", protoName(proto))
	b = appendUintField(b, "protonum", uint64(proto))
	b = appendTupleJSON(appendKey(b, "tuple"), &x.Tuple, proto)
	if x.Has&cache.ExpHasMask != 0 {
		b = appendTupleJSON(appendKey(b, "mask"), &x.Mask, proto)
	}
	if x.Has&cache.ExpHasMaster != 0 {
		b = appendTupleJSON(appendKey(b, "master"), &x.Master, x.Master.Proto)
	}
	b = appendUintField(b, "zone", uint64(x.Zone))
	if x.Has&cache.ExpHasTimeout != 0 {
		b = appendUintField(b, "timeout", uint64(x.Timeout))
	}
	if x.Has&cache.ExpHasFlags != 0 {
		b = appendFlags(appendKey(b, "flags"), x.Flags, expectFlagNames[:])
	}
	if x.Has&cache.ExpHasClass != 0 {
		b = appendUintField(b, "class", uint64(x.Class))
	}
	if x.Has&cache.ExpHasNAT != 0 {
		b = appendTupleJSON(appendKey(b, "nat"), &x.NAT, x.NAT.Proto)
	}
	if x.Has&cache.ExpHasNATDir != 0 {
		b = appendUintField(b, "nat_dir", uint64(x.NATDir))
	}
	if x.Has&cache.ExpHasHelper != 0 {
		b = appendName(appendKey(b, "helper"), x.Helper.Bytes())
	}
	if x.Has&cache.ExpHasFn != 0 {
		b = appendName(appendKey(b, "fn"), x.Fn.Bytes())
	}
	b = appendEntryFields(b, e.State, e.Created, e.Updated, now)
	return append(b, '}')
}
