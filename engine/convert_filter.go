package engine

import (
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
)

// FilterFlow fills dst with the filter's view of kernel flow f: family,
// protocol, the original source and destination and the reply source (the
// destination after DNAT, which conntrackd's user-space filter tests,
// src/filter.c), and the TCP state when the kernel reported it (a destroy
// event does not).
func FilterFlow(dst *filter.Flow, f *ctnl.Flow) {
	*dst = filter.Flow{
		Family:   filter.FamilyInet6,
		Protocol: f.Orig.Proto,
		OrigSrc:  f.Orig.Src,
		OrigDst:  f.Orig.Dst,
		ReplySrc: f.Reply.Src,
	}
	if f.Orig.Src.Is4() {
		dst.Family = filter.FamilyInet
	}
	if f.Orig.Proto == filter.ProtoTCP && f.Present&ctnl.HasProtoInfo != 0 {
		dst.TCPState = filter.TCPState(f.TCP.State)
		dst.HasTCPState = true
	}
}
