// Package metrics exposes the daemon's statistics to Prometheus: a
// collector that takes one snapshot (render.Snapshot, what `ctsync stats`
// prints) per scrape and turns its figures into metrics, so that nothing
// is counted twice, and the HTTP server of the endpoint. Nothing is
// global: each daemon (each engine, in a test) has its own registry.
//
// Every metric is listed in docs/metrics.md with the field of
// `ctsync stats --format json` that carries the same figure; tests check
// both.
package metrics
