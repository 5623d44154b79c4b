// Package ftfw implements the FT-FW reliable replication protocol of
// conntrackd 1.4.7 ("Mode FTFW") as a pure state machine: no sockets, no
// goroutines, no clock of its own. The engine drives one Session per sync
// peer with explicit inputs (Enqueue, RequestResync, Receive, Tick) and
// collects what must go on the wire with Flush; what the engine must do in
// turn (apply a peer's update, perform a bulk send) comes back through a
// Handler.
//
// # What is legacy-exact
//
// The wire behaviour follows conntrackd 1.4.7 (sequence tracking in
// src/network.c, FT-FW in src/sync-ftfw.c, src/queue_tx.c and src/resync.c),
// quirks included, because a legacy peer relies on them:
//
//   - one 32-bit sequence counter for every message built (data, ACK, NACK,
//     RESYNC, ALIVE), assigned at transmission; a retransmission is a new
//     message with a new number; comparisons use serial arithmetic, so the
//     counter may wrap;
//   - ACK, NACK and RESYNC are kept in the resend queue like data until the
//     peer acknowledges them, and the receiver counts every in-sequence
//     message (ALIVE included) in its window and its ACK ranges; idle peers
//     therefore exchange one ACK per second each, forever;
//   - the receiver acknowledges every ACKWindowSize in-sequence messages and,
//     from the alive timer, any pending range; a gap is answered with one
//     NACK [expected, seq-1] (after an ACK of the pending range); delayed or
//     duplicated messages are dropped, never reordered;
//   - HELLO is set on every message until a HELLO_BACK arrives; each received
//     HELLO is answered by exactly one HELLO_BACK, resets sequence tracking
//     and empties the entire resend queue (but see below for what becomes
//     of the data in it);
//   - an idle session sends ALIVE (or the pending ACK) one AliveInterval
//     (conntrackd: 1 s, hard-coded) after its last transmission;
//   - every object has a single queue slot: the message type (NEW, UPDATE,
//     DELETE) is chosen from the object's Status at transmission time and
//     the content is its state at that time; an object waiting in the resend
//     queue that is enqueued again (updated, NACKed, bulk send) moves back to
//     the transmit queue. The exception is Add, for the objects of a bulk
//     send: they are queued without a key, so a million of them cost no
//     insertion into and deletion from the key map, and an object may then
//     be in the queues twice (its bulk message and its own); each message
//     still carries the state at its transmission, and a bulk object whose
//     flow is gone (StatusGone) is dropped unsent, so a late bulk message
//     never undoes a DELETE;
//   - control messages waiting to be sent go after the data in a
//     transmission, so that an ACK is numbered after everything queued
//     when it was written (what Session.Resync infers the end of a
//     resync from); while the resend queue is full the data waits for
//     acknowledgements, and the control messages do not wait behind it.
//     The objects of a bulk send (Add) take no room in the resend queue
//     and never wait (see below), so a table larger than the queue is
//     still sent whole before the next ACK.
//
// # Where this package deliberately differs: resend-queue overflow
//
// conntrackd discards the oldest resend-queue entry when the queue is full
// and thereby loses reliability silently: a dropped DELETE leaves a stale
// entry on the peer forever. A Session drops the oldest entry as well (the
// bound on unacknowledged state is what the option is for, and the wire
// behaviour stays the same), but it counts the drop (Stats.Overflows) and
// repairs it:
//
//   - a dropped data object is parked on a "lost" list instead of being
//     forgotten (its memory is the object slot the session holds anyway);
//   - once the resend queue has drained to half its capacity, the lost
//     objects go back to the transmit queue: a resync limited to exactly
//     what may be missing, which also covers destroyed objects (a bulk send
//     of the internal cache cannot express a DELETE). A full bulk send was
//     tried first and rejected: with a small queue, its traffic causes the
//     next overflow, and the property test saw two nodes keep each other
//     in endless bulk sends;
//   - while repairing, data is transmitted only while the resend queue has
//     room, so the repair cannot overflow the queue again (control messages
//     are never held back);
//   - the objects of a bulk send (Add) are outside this bound: they
//     neither count against the queue nor overflow it nor wait for room.
//     Counted, a table larger than the queue overflowed it at once, the
//     rest of the table waited behind the repair while ACKs went on, and
//     a peer waiting for the table (Session.Resync) took one of those
//     ACKs for its end; a million-flow answer also went out in steps of
//     one queue per round trip. Their memory is bounded by the table,
//     which the engine's cache holds anyway, and a new bulk send drops
//     the unsent rest of the last one;
//   - a dropped NACK or RESYNC of ours is remembered by number: if the peer
//     acknowledges it, nothing was lost; if the peer NACKs it, the peer never
//     got it and we can no longer re-send it, so we send a RESYNC request
//     (at most one per 10 alive intervals): the peer answers with a bulk
//     send of everything;
//   - a dropped ACK of ours needs no repair of state: if it was lost too, the
//     peer keeps objects we did receive in its resend queue until its
//     resend timeout, a RESYNC or its own overflow re-sends them.
//
// # And after a HELLO
//
// conntrackd forgets its whole resend queue when the peer says HELLO, and
// then ignores the peer's NACK for those numbers: whatever was sent and
// lost just before a peer (re)started never arrives (a node that comes up
// while the other is already sending misses flows that were in flight). A
// Session empties the queue as well, but first releases what an ACK on the
// same message acknowledges, then parks the remaining data objects on the
// lost list, to be sent again with new numbers like an overflow repair
// (Stats.HelloRequeued); a RESYNC request of ours in it is sent again at
// once, since the peer, which resets its tracking on our HELLO, may never
// have seen it and will not NACK it. On the wire these are ordinary data messages, so a
// legacy peer is not affected; at worst it receives an update twice.
// Objects on the lost list whose last transmission an ACK covers are
// released: they arrived after all.
//
// A received RESYNC also moves every object waiting in the resend queue back
// to the transmit queue before asking the Handler for the bulk send, so
// objects whose last message was lost and never NACKed (conntrackd has no
// retransmission timeout) are re-sent as well.
package ftfw
