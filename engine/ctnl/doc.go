// Package ctnl is ctsync's only door to the kernel's connection tracking
// table (ctnetlink): it writes flows and expectations (create, update,
// delete), receives table events, streams dumps, answers single lookups
// and statistics, and flushes.
//
// It keeps its own flow representation, Flow, which holds what conntrackd
// synchronises (conntrackd's src/build.c and src/parse.c) and nothing that
// only the local kernel cares about: the engine converts between it and the
// sync link's messages and the filter's view.
//
// Flow events and dumped flows are decoded here, in place and without
// allocating (decode_flow_linux.go); expectations, and any flow message
// that decoder leaves, with github.com/ti-mo/conntrack, whose judgement
// of a message the decoder here follows exactly. Messages are encoded here,
// because that library's encoder cannot express what a sync daemon needs:
// the CONFIRMED status bit on create, NAT set-up (CTA_NAT_SRC, CTA_NAT_DST),
// NUL-terminated helper and expectation-function names (CTA_HELP_NAME,
// CTA_EXPECT_HELP_NAME, CTA_EXPECT_FN), sequence adjustments whose offsets
// are zero, a mark reset to zero, create-or-update, and batched writes. Sockets are
// github.com/mdlayher/netlink connections, but every reply is read by this
// package's own loop (sock.go), which stops at the acknowledgement: that is
// what keeps Get and StatsGlobal from hanging with netlink v1.10 and later,
// whose receive loop waits for an NLMSG_DONE the kernel never sends after a
// non-dump GET.
package ctnl
