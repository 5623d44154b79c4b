// Package interop holds the privileged interoperability tests between the
// legacy conntrackd 1.4.7 and a minimal sync-protocol peer built on
// link/wire. The tests run both sides in network namespaces; set
// CTSYNC_PRIVILEGED_TESTS=1 and run them as root.
package interop
