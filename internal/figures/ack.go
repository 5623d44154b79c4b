//go:build linux

package main

// bulkAcknowledged reports whether fw1's stats s show that fw2 has
// acknowledged everything fw1 had sent when its sync datagram counter read
// sent.
//
// An empty resend queue is not what to wait for: two idle FT-FW peers keep
// exchanging one ACK a second each, and each ACK is numbered, kept in the
// sender's resend queue and acknowledged by the peer's next ACK, as
// conntrackd's (src/sync-ftfw.c). So fw1's queue holds its own latest ACK
// from the moment it sends it until fw2's next one arrives, and is empty
// only between fw2's ACK and fw1's. When fw2's alive timer runs just before
// fw1's, that gap is a few milliseconds a second, and a poll every 100 ms
// can miss it for minutes.
//
// What is enough: one entry at most, after fw1 has sent a datagram more
// than when fw2 had applied the whole bulk (without loss, fw2 then has all
// of it). That datagram (fw1's ACK) is numbered after all the data, the
// resend queue is in sending order and, without loss, the
// acknowledgements arrive in order: if one entry is left, it is the
// newest, not data.
func bulkAcknowledged(s stats, sent uint64) bool {
	q := s.ResendQueue.Len
	return q == 0 || (q == 1 && s.Sync.Datagrams > sent)
}
