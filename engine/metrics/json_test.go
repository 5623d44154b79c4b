package metrics

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ctsync/ctsync/engine/render"
)

// twin says where `ctsync stats --format json` carries a metric's figure:
// the path of the JSON value for a sample's labels (keys joined by ".",
// links[NAME] for the link of that name), and, when the value is not the
// number or boolean itself, how it reads as the metric's value.
type twin struct {
	path  func(l map[string]string) string
	value func(v any, l map[string]string) float64
}

func at(path string) twin { return twin{path: func(map[string]string) string { return path }} }

func cacheField(field string) twin {
	return twin{path: func(l map[string]string) string {
		key := l["cache"]
		if l["table"] == "expectations" {
			key += "_expect"
		}
		return "caches." + key + "." + field
	}}
}

func linkField(field string) twin {
	return twin{path: func(l map[string]string) string { return "links[" + l["link"] + "]." + field }}
}

func progressField(field string) twin {
	return twin{path: func(l map[string]string) string { return "progress." + l["operation"] + "." + field }}
}

func is(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// twins maps every metric to its JSON field; docs/metrics.md lists the
// same pairs for operators.
var twins = map[string]twin{
	"ctsync_uptime_seconds": at("uptime"),
	"ctsync_ready":          at("readiness.ready"),
	"ctsync_sync_mode": {path: func(map[string]string) string { return "sync.mode" },
		value: func(v any, l map[string]string) float64 { return is(v == l["mode"]) }},

	"ctsync_cache_entries":                 cacheField("objects"),
	"ctsync_cache_active_entries":          cacheField("active"),
	"ctsync_cache_limit_entries":           cacheField("limit"),
	"ctsync_cache_created_total":           cacheField("created"),
	"ctsync_cache_create_failed_total":     cacheField("create_failed"),
	"ctsync_cache_create_no_space_total":   cacheField("create_no_space"),
	"ctsync_cache_updated_total":           cacheField("updated"),
	"ctsync_cache_destroyed_total":         cacheField("destroyed"),
	"ctsync_cache_destroy_failed_total":    cacheField("destroy_failed"),
	"ctsync_cache_destroy_not_found_total": cacheField("destroy_not_found"),
	"ctsync_cache_flushes_total":           cacheField("flushes"),

	"ctsync_traffic_bytes_total":   at("traffic.bytes"),
	"ctsync_traffic_packets_total": at("traffic.packets"),

	"ctsync_events_total":                 at("ingest.events"),
	"ctsync_events_filtered_total":        at("ingest.filtered"),
	"ctsync_events_own_origin_total":      at("ingest.own_origin"),
	"ctsync_events_skipped_total":         at("ingest.skipped"),
	"ctsync_netlink_overruns_total":       at("ingest.overruns"),
	"ctsync_netlink_receive_buffer_bytes": at("ingest.read_buffer"),
	"ctsync_kernel_resyncs_total":         at("ingest.resyncs"),
	"ctsync_kernel_polls_total":           at("ingest.polls"),
	"ctsync_kernel_dump_failures_total":   at("ingest.dump_failures"),
	"ctsync_kernel_dumped_total":          at("ingest.dumped"),
	"ctsync_kernel_dump_filtered_total":   at("ingest.dump_filtered"),
	"ctsync_kernel_flushes_total":         at("kernel_flushes"),

	"ctsync_sync_datagrams_sent_total":       at("sync.datagrams"),
	"ctsync_sync_messages_sent_total":        at("sync.messages"),
	"ctsync_sync_send_errors_total":          at("sync.send_errors"),
	"ctsync_sync_messages_received_total":    at("sync.received"),
	"ctsync_sync_malformed_datagrams_total":  at("sync.malformed"),
	"ctsync_sync_lost_messages_total":        at("sync.lost"),
	"ctsync_sync_messages_applied_total":     at("sync.applied"),
	"ctsync_sync_messages_rejected_total":    at("sync.rejected"),
	"ctsync_sync_expectations_ignored_total": at("sync.expectations_ignored"),
	"ctsync_sync_refreshes_total":            at("sync.refreshes"),
	"ctsync_sync_expired_total":              at("sync.expired"),
	"ctsync_sync_bulk_sends_total":           at("sync.bulks"),
	"ctsync_resend_queue_messages":           at("resend_queue.len"),

	"ctsync_link_info": {path: func(l map[string]string) string { return "links[" + l["link"] + "]" },
		value: func(v any, l map[string]string) float64 {
			o, _ := v.(map[string]any)
			return is(o["interface"] == l["interface"] && o["transport"] == l["transport"])
		}},
	"ctsync_link_up": {path: linkField("state").path,
		value: func(v any, _ map[string]string) float64 { return is(v == "RUNNING") }},
	"ctsync_link_active": linkField("active"),
	"ctsync_link_connected": {path: func(l map[string]string) string {
		return "links[" + l["link"] + "]." + l["side"] + "_connected"
	}},
	"ctsync_link_sent_bytes_total":         linkField("bytes_sent"),
	"ctsync_link_received_bytes_total":     linkField("bytes_received"),
	"ctsync_link_sent_datagrams_total":     linkField("packets_sent"),
	"ctsync_link_received_datagrams_total": linkField("packets_received"),
	"ctsync_link_send_errors_total":        linkField("errors_sent"),
	"ctsync_link_receive_errors_total":     linkField("errors_received"),
	"ctsync_link_lost_messages_total":      linkField("lost"),
	"ctsync_link_malformed_total":          linkField("malformed"),
	"ctsync_control_connections_total":     at("control.accepted"),
	"ctsync_control_requests_total": {path: func(l map[string]string) string {
		if l["result"] == "timeout" {
			return "control.timeouts"
		}
		return "control." + l["result"]
	}},

	"ctsync_commits_total":               at("operations.commits"),
	"ctsync_committed_entries_total":     at("operations.committed"),
	"ctsync_commit_failed_entries_total": at("operations.commit_failed"),
	"ctsync_purges_total":                at("operations.purges"),
	"ctsync_purged_entries_total":        at("operations.purged"),
	"ctsync_injected_entries_total":      at("operations.injected"),
	"ctsync_inject_failed_entries_total": at("operations.inject_failed"),
	"ctsync_resync_requests_total":       at("operations.resync_requests"),
	"ctsync_sync_receive_errors_total":   at("operations.receive_errors"),
	"ctsync_internal_cache_full_total":   at("operations.cache_full"),

	"ctsync_operation_running":      progressField("running"),
	"ctsync_operation_done_entries": progressField("done"),
	"ctsync_operation_goal_entries": progressField("total"),
}

// lookup follows path in a decoded JSON document.
func lookup(doc any, path string) (any, error) {
	v := doc
	for _, seg := range strings.Split(path, ".") {
		name, sel, _ := strings.Cut(strings.TrimSuffix(seg, "]"), "[")
		o, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not an object at %q", path, seg)
		}
		if v, ok = o[name]; !ok {
			return nil, fmt.Errorf("%s: no field %q", path, name)
		}
		if sel == "" {
			continue
		}
		found := false
		for _, e := range v.([]any) {
			if e.(map[string]any)["name"] == sel {
				v, found = e, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: no element named %q", path, sel)
		}
	}
	return v, nil
}

func sampleValue(mf *dto.MetricFamily, m *dto.Metric) float64 {
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// TestMetricsMatchJSON: for the same snapshot, every sample of every
// metric equals the field of `ctsync stats --format json` that docs
// name, so a dashboard and a script agree. A metric added without a
// JSON twin fails here.
func TestMetricsMatchJSON(t *testing.T) {
	for _, snap := range []render.Snapshot{fullSnapshot(), {Mode: "notrack"}} {
		var doc any
		if err := json.Unmarshal(render.AppendStatsJSON(nil, &snap), &doc); err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, mf := range gather(t, NewCollector(func() render.Snapshot { return snap })) {
			tw, ok := twins[mf.GetName()]
			if !ok {
				t.Errorf("%s has no JSON twin: add the figure to render.AppendStatsJSON and the pair to twins", mf.GetName())
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				path := tw.path(labels)
				v, err := lookup(doc, path)
				if err != nil {
					t.Errorf("%s %v: %v", mf.GetName(), labels, err)
					continue
				}
				var want float64
				if tw.value != nil {
					want = tw.value(v, labels)
				} else if b, ok := v.(bool); ok {
					want = is(b)
				} else if n, ok := v.(float64); ok {
					want = n
				} else {
					t.Errorf("%s %v: JSON %s is %v, not a number", mf.GetName(), labels, path, v)
					continue
				}
				if got := sampleValue(mf, m); got != want {
					t.Errorf("%s %v = %v, JSON %s says %v", mf.GetName(), labels, got, path, want)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Error("no sample checked")
		}
	}
}
