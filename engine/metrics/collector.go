package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/link"
)

// Collector turns one snapshot per scrape into ctsync's metrics.
type Collector struct {
	snapshot func() render.Snapshot
	families []*family
}

// family is one metric: its description and how a snapshot gives its
// samples (one per set of label values).
type family struct {
	desc   *prometheus.Desc
	typ    prometheus.ValueType
	values func(s *render.Snapshot, emit func(v float64, labels ...string))
}

// NewCollector returns a collector that calls snapshot once per scrape.
func NewCollector(snapshot func() render.Snapshot) *Collector {
	return &Collector{snapshot: snapshot, families: families()}
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families {
		ch <- f.desc
	}
}

// Collect takes a snapshot and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, f := range c.families {
		f.values(&s, func(v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, labels...)
		})
	}
}

// NewRegistry returns a registry of its own (none is shared between two
// daemons in one process) with the collector and Go's runtime and
// process collectors.
func NewRegistry(snapshot func() render.Snapshot) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(snapshot),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

const namespace = "ctsync"

func newFamily(name, help string, typ prometheus.ValueType, labels []string,
	values func(s *render.Snapshot, emit func(v float64, labels ...string))) *family {
	return &family{desc: prometheus.NewDesc(namespace+"_"+name, help, labels, nil), typ: typ, values: values}
}

// counter and gauge are metrics without labels.
func counter(name, help string, v func(s *render.Snapshot) uint64) *family {
	return newFamily(name, help, prometheus.CounterValue, nil, func(s *render.Snapshot, emit func(float64, ...string)) {
		emit(float64(v(s)))
	})
}

func gauge(name, help string, v func(s *render.Snapshot) float64) *family {
	return newFamily(name, help, prometheus.GaugeValue, nil, func(s *render.Snapshot, emit func(float64, ...string)) {
		emit(v(s))
	})
}

// tier is one cache as the metrics label it.
type tier struct {
	cache, table string
	stats        *cache.Stats
	limit        int
}

func tiers(s *render.Snapshot) []tier {
	all := []tier{
		{"internal", "flows", s.Internal, s.Limits.Internal},
		{"external", "flows", s.External, s.Limits.External},
		{"internal", "expectations", s.InternalExpect, s.Limits.InternalExpect},
		{"external", "expectations", s.ExternalExpect, s.Limits.ExternalExpect},
	}
	out := all[:0]
	for _, t := range all {
		if t.stats != nil { // a disabled tier has no metrics, as it has no JSON object
			out = append(out, t)
		}
	}
	return out
}

// perCache is a metric of every enabled cache, labelled by tier
// (internal, external) and table (flows, expectations).
func perCache(name, help string, typ prometheus.ValueType, v func(t tier) float64) *family {
	return newFamily(name, help, typ, []string{"cache", "table"}, func(s *render.Snapshot, emit func(float64, ...string)) {
		for _, t := range tiers(s) {
			emit(v(t), t.cache, t.table)
		}
	})
}

func cacheCounter(name, help string, v func(st *cache.Stats) uint64) *family {
	return perCache(name, help, prometheus.CounterValue, func(t tier) float64 { return float64(v(t.stats)) })
}

// perLink is a metric of every dedicated link, labelled by its name.
func perLink(name, help string, typ prometheus.ValueType, v func(l *link.LinkStatus) float64) *family {
	return newFamily(name, help, typ, []string{"link"}, func(s *render.Snapshot, emit func(float64, ...string)) {
		for i := range s.Links {
			emit(v(&s.Links[i]), s.Links[i].Name)
		}
	})
}

func linkCounter(name, help string, v func(t *link.Stats) uint64) *family {
	return perLink(name, help, prometheus.CounterValue, func(l *link.LinkStatus) float64 { return float64(v(&l.Stats)) })
}

// perOperation is a metric of the commit's and the kernel resync's
// progress.
func perOperation(name, help string, v func(p *render.Progress) float64) *family {
	return newFamily(name, help, prometheus.GaugeValue, []string{"operation"}, func(s *render.Snapshot, emit func(float64, ...string)) {
		emit(v(&s.Commit), "commit")
		emit(v(&s.Resync), "resync")
	})
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// controlResults are the outcomes of control requests, as the label
// result names them, with how a snapshot counts each.
var controlResults = []struct {
	result string
	count  func(s *render.Snapshot) uint64
}{
	{"succeeded", func(s *render.Snapshot) uint64 { return s.Control.Succeeded }},
	{"failed", func(s *render.Snapshot) uint64 { return s.Control.Failed }},
	{"malformed", func(s *render.Snapshot) uint64 { return s.Control.Malformed }},
	{"too_large", func(s *render.Snapshot) uint64 { return s.Control.TooLarge }},
	{"unsupported", func(s *render.Snapshot) uint64 { return s.Control.Unsupported }},
	{"timeout", func(s *render.Snapshot) uint64 { return s.Control.Timeouts }},
	{"busy", func(s *render.Snapshot) uint64 { return s.Control.Busy }},
	{"disconnected", func(s *render.Snapshot) uint64 { return s.Control.Disconnected }},
}

// families are ctsync's metrics, in the order docs/metrics.md lists
// them. A metric is one line here, one row there, and one entry in the
// test that matches it with the JSON of `ctsync stats`.
func families() []*family {
	gaugeV := prometheus.GaugeValue
	return []*family{
		// The daemon.
		gauge("uptime_seconds", "How long the daemon has run.", func(s *render.Snapshot) float64 { return s.Uptime.Seconds() }),
		newFamily("sync_mode", "The daemon's sync mode (ftfw, notrack, alarm) or stats, as a label; the value is 1.", gaugeV, []string{"mode"},
			func(s *render.Snapshot, emit func(float64, ...string)) { emit(1, s.Mode) }),
		// What `ctsync ready` answers, for a dashboard next to keepalived's
		// track script; absent where readiness means nothing (stats mode).
		newFamily("ready", "1 when this node holds a complete copy of its peer's state (the start-up resync is done and the resend queue drains), as `ctsync ready` answers; else 0.", gaugeV, nil,
			func(s *render.Snapshot, emit func(float64, ...string)) {
				switch r := s.Readiness; {
				case r == nil:
				case r.Ready:
					emit(1)
				default:
					emit(0)
				}
			}),

		// The caches.
		perCache("cache_entries", "Entries held, dead ones awaiting removal included: what counts against the limit.", gaugeV,
			func(t tier) float64 { return float64(t.stats.Objects) }),
		perCache("cache_active_entries", "Entries held that are not dead.", gaugeV,
			func(t tier) float64 { return float64(t.stats.Active) }),
		perCache("cache_limit_entries", "The most entries the cache holds.", gaugeV,
			func(t tier) float64 { return float64(t.limit) }),
		cacheCounter("cache_created_total", "Entries created.", func(st *cache.Stats) uint64 { return st.Created }),
		cacheCounter("cache_create_failed_total", "Entries refused.", func(st *cache.Stats) uint64 { return st.CreateFailed }),
		cacheCounter("cache_create_no_space_total", "Entries refused because the cache was full.", func(st *cache.Stats) uint64 { return st.CreateNoSpace }),
		cacheCounter("cache_updated_total", "Updates of entries held.", func(st *cache.Stats) uint64 { return st.Updated }),
		cacheCounter("cache_destroyed_total", "Entries destroyed.", func(st *cache.Stats) uint64 { return st.Destroyed }),
		cacheCounter("cache_destroy_failed_total", "Destructions that failed.", func(st *cache.Stats) uint64 { return st.DestroyFailed }),
		cacheCounter("cache_destroy_not_found_total", "Destructions of entries the cache did not hold.", func(st *cache.Stats) uint64 { return st.DestroyNotFound }),
		cacheCounter("cache_flushes_total", "Flushes of the cache.", func(st *cache.Stats) uint64 { return st.Flushes }),

		// What the destroyed flows carried.
		counter("traffic_bytes_total", "Bytes carried by the flows destroyed, when the kernel counts them.", func(s *render.Snapshot) uint64 { return s.Traffic.Bytes }),
		counter("traffic_packets_total", "Packets carried by the flows destroyed, when the kernel counts them.", func(s *render.Snapshot) uint64 { return s.Traffic.Packets }),

		// The input stage: kernel events and dumps.
		counter("events_total", "Kernel events received.", func(s *render.Snapshot) uint64 { return s.Ingest.Events }),
		counter("events_filtered_total", "Kernel events the filter dropped.", func(s *render.Snapshot) uint64 { return s.Ingest.Filtered }),
		counter("events_own_origin_total", "Kernel events caused by the daemon's own writes (commits), not sent.", func(s *render.Snapshot) uint64 { return s.Ingest.OwnOrigin }),
		counter("events_skipped_total", "Kernel events that could not be decoded.", func(s *render.Snapshot) uint64 { return s.Ingest.Skipped }),
		counter("netlink_overruns_total", "Event socket overruns: events the kernel dropped, healed by a resync with the kernel's table.", func(s *render.Snapshot) uint64 { return s.Ingest.Overruns }),
		gauge("netlink_receive_buffer_bytes", "The event socket's receive buffer.", func(s *render.Snapshot) float64 { return float64(s.Ingest.ReadBuffer) }),
		counter("kernel_resyncs_total", "Resyncs of the internal cache with the kernel's table.", func(s *render.Snapshot) uint64 { return s.Ingest.Resyncs }),
		counter("kernel_polls_total", "Polls of the kernel's table (polling mode).", func(s *render.Snapshot) uint64 { return s.Ingest.Polls }),
		counter("kernel_dump_failures_total", "Dumps of the kernel's table that failed.", func(s *render.Snapshot) uint64 { return s.Ingest.DumpFailures }),
		counter("kernel_dumped_total", "Flows read by dumps of the kernel's table.", func(s *render.Snapshot) uint64 { return s.Ingest.Dumped }),
		counter("kernel_dump_filtered_total", "Flows read by dumps that the filter dropped.", func(s *render.Snapshot) uint64 { return s.Ingest.DumpFiltered }),
		counter("kernel_flushes_total", "Flushes of the kernel's table.", func(s *render.Snapshot) uint64 { return s.KernelFlushes }),

		// The sync mode.
		counter("sync_datagrams_sent_total", "Datagrams sent to the peers.", func(s *render.Snapshot) uint64 { return s.Sync.Datagrams }),
		counter("sync_messages_sent_total", "Sync messages sent to the peers.", func(s *render.Snapshot) uint64 { return s.Sync.Messages }),
		counter("sync_send_errors_total", "Datagrams that could not be sent.", func(s *render.Snapshot) uint64 { return s.Sync.SendErrors }),
		counter("sync_messages_received_total", "Sync messages received and decoded.", func(s *render.Snapshot) uint64 { return s.Sync.Received }),
		counter("sync_malformed_datagrams_total", "Datagrams received that did not decode.", func(s *render.Snapshot) uint64 { return s.Sync.Malformed }),
		counter("sync_lost_messages_total", "Sync messages lost (NOTRACK: sequence numbers a peer skipped).", func(s *render.Snapshot) uint64 { return s.Sync.Lost }),
		counter("sync_messages_applied_total", "Received messages applied to the external cache (or the kernel).", func(s *render.Snapshot) uint64 { return s.Sync.Applied }),
		counter("sync_messages_rejected_total", "Received messages the conversion refused.", func(s *render.Snapshot) uint64 { return s.Sync.Rejected }),
		counter("sync_expectations_ignored_total", "Received expectation messages dropped: expectation_sync is off.", func(s *render.Snapshot) uint64 { return s.Sync.ExpIgnored }),
		counter("sync_refreshes_total", "ALARM: entries sent again by their refresh timer.", func(s *render.Snapshot) uint64 { return s.Sync.Refreshes }),
		counter("sync_expired_total", "ALARM: external entries aged out.", func(s *render.Snapshot) uint64 { return s.Sync.Expired }),
		counter("sync_bulk_sends_total", "Bulk sends of the internal cache (a peer's resync answered, or ctsync bulk).", func(s *render.Snapshot) uint64 { return s.Sync.Bulks }),
		newFamily("resend_queue_messages", "FT-FW: messages sent and not yet acknowledged by every peer.", gaugeV, nil,
			func(s *render.Snapshot, emit func(float64, ...string)) {
				if s.Mode == "ftfw" { // as the JSON has resend_queue in FT-FW only
					emit(float64(s.ResendQueue.Len))
				}
			}),

		// The links.
		newFamily("link_info", "A dedicated link's interface and transport, as labels; the value is 1.", gaugeV, []string{"link", "interface", "transport"},
			func(s *render.Snapshot, emit func(float64, ...string)) {
				for _, l := range s.Links {
					emit(1, l.Name, l.Interface, l.Transport.String())
				}
			}),
		perLink("link_up", "1 when the link's interface is up and has carrier (RUNNING), else 0.", gaugeV,
			func(l *link.LinkStatus) float64 { return boolValue(l.State == "RUNNING") }),
		perLink("link_active", "1 for the link the sync messages use, 0 for a backup link.", gaugeV,
			func(l *link.LinkStatus) float64 { return boolValue(l.Active) }),
		newFamily("link_connected", "TCP links: 1 when the peer's connection is accepted (side server) or ours established (side client).", gaugeV, []string{"link", "side"},
			func(s *render.Snapshot, emit func(float64, ...string)) {
				for _, l := range s.Links {
					if l.Server != nil {
						emit(boolValue(*l.Server), l.Name, "server")
					}
					if l.Client != nil {
						emit(boolValue(*l.Client), l.Name, "client")
					}
				}
			}),
		linkCounter("link_sent_bytes_total", "Bytes sent on the link.", func(t *link.Stats) uint64 { return t.BytesSent }),
		linkCounter("link_received_bytes_total", "Bytes received on the link.", func(t *link.Stats) uint64 { return t.BytesReceived }),
		linkCounter("link_sent_datagrams_total", "Datagrams (TCP: writes) sent on the link.", func(t *link.Stats) uint64 { return t.PacketsSent }),
		linkCounter("link_received_datagrams_total", "Datagrams (TCP: reads) received on the link.", func(t *link.Stats) uint64 { return t.PacketsReceived }),
		linkCounter("link_send_errors_total", "Sends that failed on the link.", func(t *link.Stats) uint64 { return t.ErrorsSent }),
		linkCounter("link_receive_errors_total", "Receives that failed on the link.", func(t *link.Stats) uint64 { return t.ErrorsReceived }),
		linkCounter("link_lost_messages_total", "Messages known lost on the link (sequence gaps, a full TCP error queue).", func(t *link.Stats) uint64 { return t.Lost }),
		linkCounter("link_malformed_total", "Data received on the link that did not decode.", func(t *link.Stats) uint64 { return t.Malformed }),

		// The control socket.
		counter("control_connections_total", "Connections to the control socket accepted.", func(s *render.Snapshot) uint64 { return s.Control.Accepted }),
		newFamily("control_requests_total", "Control requests by outcome.", prometheus.CounterValue, []string{"result"},
			func(s *render.Snapshot, emit func(float64, ...string)) {
				for _, r := range controlResults {
					emit(float64(r.count(s)), r.result)
				}
			}),

		// The operations.
		counter("commits_total", "Commits of the external cache into the kernel.", func(s *render.Snapshot) uint64 { return s.Operations.Commits }),
		counter("committed_entries_total", "Flows and expectations commits wrote into the kernel.", func(s *render.Snapshot) uint64 { return s.Operations.Committed }),
		counter("commit_failed_entries_total", "Flows and expectations the kernel refused during commits.", func(s *render.Snapshot) uint64 { return s.Operations.CommitFailed }),
		counter("purges_total", "Purges of the kernel's table.", func(s *render.Snapshot) uint64 { return s.Operations.Purges }),
		counter("purged_entries_total", "Flows purges removed from the kernel's table.", func(s *render.Snapshot) uint64 { return s.Operations.Purged }),
		counter("injected_entries_total", "Received flows written straight into the kernel (no external cache).", func(s *render.Snapshot) uint64 { return s.Operations.Injected }),
		counter("inject_failed_entries_total", "Received flows the kernel refused (no external cache).", func(s *render.Snapshot) uint64 { return s.Operations.InjectFailed }),
		counter("resync_requests_total", "Resyncs asked of the peers, at start-up or on request.", func(s *render.Snapshot) uint64 { return s.Operations.ResyncRequests }),
		counter("sync_receive_errors_total", "Failed reads of the sync links.", func(s *render.Snapshot) uint64 { return s.Operations.ReceiveErrors }),
		counter("internal_cache_full_total", "Kernel flows the internal cache had no room for.", func(s *render.Snapshot) uint64 { return s.Operations.CacheFull }),

		// The running commit and kernel resync, or the last ones.
		perOperation("operation_running", "1 while the operation runs.", func(p *render.Progress) float64 { return boolValue(p.Running) }),
		perOperation("operation_done_entries", "Entries the running (else the last) operation has done.", func(p *render.Progress) float64 { return float64(p.Done) }),
		perOperation("operation_goal_entries", "Entries the running (else the last) operation has to do; 0 when not known in advance.", func(p *render.Progress) float64 { return float64(p.Total) }),
	}
}
