// Package control is the daemon's control socket: a UNIX stream socket on
// which `ctsync commit`, `flush`, `resync`, `bulk`, `purge`, `reload`,
// `stats` and `dump` ask the running daemon to act. It holds the server
// (Listen, Server), the client the command line uses (Dial, Client.Do,
// Run), and the protocol between them. What the commands do is the
// engine's, behind the Handler interface.
//
// # Protocol (version 1)
//
// conntrackd's control protocol is one native-endian int per connection
// and free text back, with no way for the client to learn whether the
// operation succeeded (src/local.c). This one keeps one request per
// connection but says what happened:
//
// The client connects and writes one request: a JSON object on one line,
// at most 64 KiB, within 5 s, for example
//
//	{"version":1,"command":"dump","cache":"internal","format":"text"}
//
// and then only reads; closing the connection (or shutting down its
// writing side) cancels the request. The server answers with lines of
// JSON, each an object with one of these fields:
//
//	{"progress":{"stage":"commit","done":1200,"total":5000}}
//	{"data":"tcp      6 431999 ESTABLISHED src=198.51.100.1 ..."}
//	{"data":{"proto":"tcp", ...}}
//	{"result":{"ok":true}}
//	{"result":{"ok":false,"code":"failed","error":"..."}}
//
// Progress lines come from long operations, a few a second at most, and
// each stage's first and completing report always (a commit has two
// stages, its flows and its expectations). Data
// lines come from stats and dump: a JSON string per text line (format
// "text") or one JSON value (format "json"). The result line comes last,
// always; a connection that ends without one means the daemon died.
// Codes (CodeMalformed, CodeBusy, ...) are stable; clients may branch on
// them. Readers skip fields and line kinds they do not know, so a server
// may add them without a new version.
//
// # Limits
//
// A server serves at most 16 clients at once and refuses more with
// "busy". A request that is not JSON, is oversized, arrives too late,
// names another version or an unknown command, or is followed by more
// bytes is refused with a result line saying why, counted (Server.Stats)
// and logged; the server goes on. A client that reads nothing for 30 s
// is cut off and its request cancelled. Output is written in 32 KiB
// batches as the handler produces it, so a dump of a million flows takes
// no more memory than one of ten.
package control
