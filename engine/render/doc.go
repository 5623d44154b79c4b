// Package render turns what the engine holds into what `ctsync dump` and
// `ctsync stats` print: cached flows and expectations as conntrackd's
// `-i` and `-e` list them (one line each, so that shell tools can count
// and grep them) or as one JSON object each, and a statistics snapshot
// as conntrackd's `-s` prints it or as one JSON object.
//
// Every function appends to a caller's buffer and takes the time as an
// input: a dump of a million flows reuses one buffer and allocates
// nothing per flow. The package only reads values (cache entries, link
// and mode counters); it knows nothing of configuration or of running.
//
// The text line of a flow follows libnetfilter_conntrack's default
// format (nfct_snprintf with NFCT_O_DEFAULT and no flags, which
// conntrackd's src/cache-ct.c calls) with what conntrackd adds, and
// differs only where docs/compat.md says so.
package render
