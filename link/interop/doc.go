// Package interop holds the privileged interoperability tests between the
// legacy conntrackd 1.4.7 (namespace A) and a peer built from ctsync's own
// sync stack (namespace B): a link.Group opened from link.Settings
// over the real udp, mcast and tcp transports, an ftfw.Session in FTFW mode
// (its Handler keeps the peer's external cache and answers RESYNC with a
// bulk send of its internal cache), and link/wire for every byte. NOTRACK
// and ALARM peers send plain sequenced messages, as those modes do.
//
// What the tests prove against the legacy binary:
//
//   - every mode (NOTRACK, ALARM, FTFW) over every transport (UDP,
//     multicast, TCP), and FTFW over UDP and multicast on IPv6 (conntrackd
//     joins an IPv6 group; NOTRACK over TCP on IPv6 as well), both ways:
//     flows created in A's kernel reach the peer with identity, state, mark
//     and NAT, and the peer's external cache ends equal to conntrack -L on
//     A; the peer's flows enter conntrackd -e ct, a DELETE removes one, -c
//     commits the rest with NAT intact; conntrackd counts no malformed or
//     lost message, no link error; in FTFW its resend queue drains and it
//     never NACKs;
//   - RESYNC both ways (FTFW and NOTRACK): conntrackd -n makes the session
//     bulk-send state that was never announced, and the session's
//     RequestResync makes conntrackd bulk-send what it loaded silently at
//     start-up;
//   - FTFW loss recovery: a burst of dropped datagrams in either direction
//     is repaired through NACK and retransmission, checked on both sides'
//     counters so the test cannot pass without loss;
//   - TCP: conntrackd restarted mid-session; the link reconnects, the new
//     HELLO is answered and sync continues both ways;
//   - ALARM: an entry the peer stops refreshing expires from A's external
//     cache after CacheTimeout while a refreshed one stays;
//   - expectations (ExpectationSync): one created by the kernel's FTP
//     helper in A reaches the peer as conntrack -L expect shows it, and
//     one the peer announces shows in conntrackd -e expect.
//
// The tests need root, iproute2, nft, conntrack and conntrackd; set
// CTSYNC_PRIVILEGED_TESTS=1 (with CI set, a missing prerequisite fails).
package interop
