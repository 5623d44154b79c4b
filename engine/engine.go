// Package engine runs ctsync's sync pipeline: kernel events through
// filters, caches and sync modes to the links and the peer's kernel. It
// composes the pipeline from a config.Runtime and translates the
// configuration into each package's own settings, so that link, filter
// and the kernel I/O package never see config (and the HCL and YAML
// decoders it brings along).
//
// So far it holds the translation of the links and the filter, and the
// conversions between the kernel's, the sync link's and the filter's flows
// (convert_*.go), and the input stage, Ingest (ingest*.go): kernel events
// or periodic dumps through the origin check and the filter into a sink.
package engine
