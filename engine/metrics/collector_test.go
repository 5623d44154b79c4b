package metrics

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/link"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fullSnapshot has every part a snapshot can have (four caches, a UDP and
// a TCP link, FT-FW's resend queue, a commit running), and a different
// value in every number, so that a metric reading the wrong field shows.
func fullSnapshot() render.Snapshot {
	yes, no := true, false
	s := render.Snapshot{
		Internal: &cache.Stats{}, External: &cache.Stats{}, InternalExpect: &cache.Stats{}, ExternalExpect: &cache.Stats{},
		Mode: "ftfw",
		Links: []link.LinkStatus{
			{Name: "primary", Interface: "eth2", Transport: link.UDP, State: "RUNNING", Active: true},
			{Name: "backup", Interface: "eth3", Transport: link.TCP, State: "NO-CARRIER", Server: &yes, Client: &no},
		},
	}
	n := uint64(0)
	fillDistinct(reflect.ValueOf(&s).Elem(), &n)
	s.Uptime = 3725 * time.Second                                   // the JSON says whole seconds
	s.Links[0].Transport, s.Links[1].Transport = link.UDP, link.TCP // enumerations, not figures
	s.Commit = render.Progress{Running: true, Stage: "commit", Done: 2048, Total: 5000}
	s.Resync = render.Progress{Stage: "", Done: 77}
	s.Readiness = &control.Readiness{Ready: true, Reason: "the peer's table is complete and the resend queue drained"}
	return s
}

// fillDistinct sets every integer reachable from v to the next value of
// *n.
func fillDistinct(v reflect.Value, n *uint64) {
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		*n++
		v.SetUint(*n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		*n++
		v.SetInt(int64(*n))
	case reflect.Pointer:
		if !v.IsNil() && v.Elem().Kind() == reflect.Struct {
			fillDistinct(v.Elem(), n)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillDistinct(v.Field(i), n)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			fillDistinct(v.Index(i), n)
		}
	}
}

// gather collects c alone.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestCollectorGolden: the text a scrape returns for a known snapshot,
// every metric with its help, type and labels. Review the diff after
// `go test ./engine/metrics -update`.
func TestCollectorGolden(t *testing.T) {
	tests := []struct {
		name string
		snap render.Snapshot
	}{
		{"full", fullSnapshot()},
		// Stats mode: one cache, no links, no sync counters moving.
		{"stats-mode", render.Snapshot{Mode: "stats", Internal: &cache.Stats{Active: 3, Objects: 4, Created: 9},
			Limits: render.Limits{Internal: 262144}, Traffic: render.Traffic{Bytes: 1500, Packets: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range gather(t, NewCollector(func() render.Snapshot { return tt.snap })) {
				if err := enc.Encode(mf); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join("testdata", tt.name+".prom")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestCollectorTakesOneSnapshotPerScrape: the figures of one scrape come
// from one snapshot, so that they agree with each other.
func TestCollectorTakesOneSnapshotPerScrape(t *testing.T) {
	calls := 0
	c := NewCollector(func() render.Snapshot { calls++; return fullSnapshot() })
	gather(t, c)
	if calls != 1 {
		t.Errorf("one scrape took %d snapshots, want 1", calls)
	}
}

// TestEveryMetricIsDescribed: a metric that Collect sends and Describe
// does not would make the registry refuse the scrape; the reverse would
// be a metric never shown.
func TestEveryMetricIsDescribed(t *testing.T) {
	c := NewCollector(fullSnapshot)
	ch := make(chan *prometheus.Desc, 1000)
	c.Describe(ch)
	close(ch)
	described := 0
	for range ch {
		described++
	}
	if got := len(gather(t, c)); got != described {
		t.Errorf("the full snapshot gives %d metrics, %d are described: a metric is missing from it", got, described)
	}
}

// TestRegistriesAreSeparate: two daemons (two engines in one test) each
// have their registry, with the Go and process collectors, and neither
// sees the other's figures.
func TestRegistriesAreSeparate(t *testing.T) {
	a := NewRegistry(func() render.Snapshot { return render.Snapshot{Mode: "ftfw"} })
	b := NewRegistry(func() render.Snapshot { return render.Snapshot{Mode: "notrack"} })
	modes := map[string]bool{}
	for _, reg := range []*prometheus.Registry{a, b} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, mf := range mfs {
			have[strings.SplitN(mf.GetName(), "_", 2)[0]] = true
			if mf.GetName() == "ctsync_sync_mode" {
				for _, m := range mf.GetMetric() {
					modes[m.GetLabel()[0].GetValue()] = true
				}
			}
		}
		for _, prefix := range []string{"ctsync", "go", "process"} {
			if !have[prefix] && (prefix != "process" || processMetrics) {
				t.Errorf("no %s_ metric in a daemon's registry", prefix)
			}
		}
	}
	if !modes["ftfw"] || !modes["notrack"] || len(modes) != 2 {
		t.Errorf("modes seen %v: each registry should show its own engine", modes)
	}
}
