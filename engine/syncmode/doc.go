// Package syncmode holds the sync modes of the engine, FT-FW, NOTRACK and
// ALARM, as conntrackd's src/sync-mode.c, src/sync-ftfw.c,
// src/sync-notrack.c and src/sync-alarm.c define them: what goes to the peers
// when the internal cache changes, what a received message does to the
// external cache, how a RESYNC request is answered, ALARM's refresh timers
// and the external cache's expiry.
//
// A Mode is a state machine: time and I/O are inputs. The engine calls
// Local after it changed the internal cache from a kernel event, Receive
// with each datagram a link delivered, Tick at NextTimer, and Flush to
// transmit; datagrams go out through the Sender of each peer. Nothing here
// opens a socket, reads a clock or touches the kernel.
//
// Each peer has its own session behind the mode (FT-FW: one ftfw.Session per
// peer; NOTRACK: the peer's sequence tracking), so that more than two nodes
// need no change of shape. NOTRACK and ALARM build each datagram once and give
// it to every peer, with one sequence counter, as conntrackd does.
//
// The package is apart from engine because engine composes it: the
// conversions between the cache's and the wire's forms, which live in
// engine, come in as functions (Convert), so that this package imports
// neither engine nor config.
//
// Expectations (conntrackd's ExpectationSync) go the same way once
// SetExpectations gave the Mode its expectation caches: the engine reports
// a change of the internal one with LocalExpect; each mode sends them as
// it sends flows (FT-FW in the same sessions, keyed apart from flows;
// ALARM with their own refresh timers); received EXP NEW, UPDATE and
// DELETE messages change the external expectation cache (or go to
// Settings.InjectExpect); a bulk send, BulkSend or a RESYNC answered, sends
// them after the flows (src/sync-mode.c), so that their masters arrive
// first. The helper-name list of ExpectationSync is applied by the engine
// to what the kernel reports, not here: conntrackd does not filter what a
// peer sends (src/sync-mode.c, src/external_cache.c). Without
// SetExpectations, received expectation messages are counted
// (Stats.ExpIgnored) and dropped.
package syncmode
