package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
)

// metricsListen is where the lab's daemons serve their metrics: each
// firewall's namespace has its own loopback.
const metricsListen = "127.0.0.1:9724"

// request sends raw to the metrics endpoint of fw from fw's namespace and
// returns the response (the socket is opened in the namespace; reading it
// from elsewhere is fine).
func request(fw *lab.Node, raw string) (*http.Response, []byte, error) {
	var c net.Conn
	err := fw.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", metricsListen, 5*time.Second)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// scrape is one Prometheus scrape of fw's daemon.
type scrape map[string]*dto.MetricFamily

func scrapeOf(t *testing.T, fw *lab.Node) scrape {
	t.Helper()
	resp, body, err := request(fw, "GET /metrics HTTP/1.1\r\nHost: "+metricsListen+"\r\nConnection: close\r\n\r\n")
	if err != nil {
		t.Fatalf("%s: scrape: %v", fw.Role, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: scrape: %s\n%s", fw.Role, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%s: scrape: %v\n%.1000s", fw.Role, err, body)
	}
	return mfs
}

// value is the sample of name whose labels are those given (name=value
// pairs), or -1.
func (s scrape) value(name string, labels ...string) float64 {
	mf, ok := s[name]
	if !ok {
		return -1
	}
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

// TestLabMetrics: two `ctsync daemon`s with the metrics block replicate
// flows; the scrapes in each firewall's namespace move as the flows go
// through, agree with `ctsync stats --format json`, and show the commit;
// malformed requests to the endpoint leave the daemon serving; a reload
// that moves the endpoint is refused and the endpoint stays.
func TestLabMetrics(t *testing.T) {
	netnstest.RequirePrivileged(t)
	const n = 3000
	l := lab.New(t, lab.Options{})
	block := "metrics {\n  listen = \"" + metricsListen + "\"\n}\n"
	fw1 := startDaemon(t, l, l.FW1, "ftfw", block)
	fw2 := startDaemon(t, l, l.FW2, "ftfw", block)
	if !strings.Contains(fw1.log(), `msg="metrics endpoint listening" address=`+metricsListen) {
		t.Errorf("fw1's log does not say where the metrics are served:\n%s", fw1.log())
	}
	before1, before2 := scrapeOf(t, l.FW1), scrapeOf(t, l.FW2)
	for _, s := range []scrape{before1, before2} {
		if s.value("ctsync_sync_mode", "mode=ftfw") != 1 || s.value("ctsync_link_up", "link=sync") != 1 ||
			s.value("ctsync_link_active", "link=sync") != 1 || s.value("ctsync_cache_limit_entries", "cache=external", "table=flows") != 262144 {
			t.Errorf("a scrape at start: mode, link up and active, cache limit are not as configured")
		}
		if s.value("go_goroutines") <= 0 || s.value("process_resident_memory_bytes") <= 0 {
			t.Errorf("a scrape lacks the Go runtime's or the process's metrics")
		}
	}

	l.FW1.Fill(t, n)
	lab.Eventually(t, 60*time.Second, fmt.Sprintf("%d flows in fw2's external cache, as its metrics say", n), func() (bool, string) {
		got := scrapeOf(t, l.FW2).value("ctsync_cache_active_entries", "cache=external", "table=flows")
		return got >= n, fmt.Sprint(got)
	})
	// FT-FW: the peer acknowledges everything once the flows stop.
	lab.Eventually(t, 30*time.Second, "fw1's resend queue to drain", func() (bool, string) {
		got := scrapeOf(t, l.FW1).value("ctsync_resend_queue_messages")
		return got == 0, fmt.Sprint(got)
	})
	after1, after2 := scrapeOf(t, l.FW1), scrapeOf(t, l.FW2)
	moved := []struct {
		fw            string
		before, after scrape
		name          string
		labels        []string
	}{
		{"fw1", before1, after1, "ctsync_events_total", nil},
		{"fw1", before1, after1, "ctsync_cache_created_total", []string{"cache=internal", "table=flows"}},
		{"fw1", before1, after1, "ctsync_sync_messages_sent_total", nil},
		{"fw1", before1, after1, "ctsync_link_sent_bytes_total", []string{"link=sync"}},
		{"fw2", before2, after2, "ctsync_sync_messages_received_total", nil},
		{"fw2", before2, after2, "ctsync_sync_messages_applied_total", nil},
		{"fw2", before2, after2, "ctsync_cache_created_total", []string{"cache=external", "table=flows"}},
		{"fw2", before2, after2, "ctsync_link_received_bytes_total", []string{"link=sync"}},
	}
	for _, m := range moved {
		b, a := m.before.value(m.name, m.labels...), m.after.value(m.name, m.labels...)
		if b < 0 || a-b < n {
			t.Errorf("%s: %s%v went from %v to %v while %d flows replicated", m.fw, m.name, m.labels, b, a, n)
		}
	}

	// The same figures as `ctsync stats --format json`: counters taken
	// between two scrapes lie between their values (ALIVE messages and
	// kernel events keep some of them moving).
	twins := []struct {
		name   string
		labels []string
		json   []string
	}{
		{"ctsync_events_total", nil, []string{"ingest", "events"}},
		{"ctsync_cache_active_entries", []string{"cache=internal", "table=flows"}, []string{"caches", "internal", "active"}},
		{"ctsync_cache_entries", []string{"cache=external", "table=flows"}, []string{"caches", "external", "objects"}},
		{"ctsync_cache_created_total", []string{"cache=external", "table=flows"}, []string{"caches", "external", "created"}},
		{"ctsync_sync_messages_sent_total", nil, []string{"sync", "messages"}},
		{"ctsync_sync_messages_received_total", nil, []string{"sync", "received"}},
		{"ctsync_sync_messages_applied_total", nil, []string{"sync", "applied"}},
		{"ctsync_sync_malformed_datagrams_total", nil, []string{"sync", "malformed"}},
		{"ctsync_sync_lost_messages_total", nil, []string{"sync", "lost"}},
		{"ctsync_control_connections_total", nil, []string{"control", "accepted"}},
		{"ctsync_resync_requests_total", nil, []string{"operations", "resync_requests"}},
	}
	for _, d := range []*labDaemon{fw1, fw2} {
		a := scrapeOf(t, d.fw)
		j := d.stats(t)
		b := scrapeOf(t, d.fw)
		for _, tw := range twins {
			lo, hi, got := a.value(tw.name, tw.labels...), b.value(tw.name, tw.labels...), float64(number(j, tw.json...))
			// The stats request itself is a control connection.
			if got < lo || got > hi || lo < 0 {
				t.Errorf("%s: %s%v is %v then %v, ctsync stats says %s = %v", d.fw.Role, tw.name, tw.labels, lo, hi, strings.Join(tw.json, "."), got)
			}
		}
	}

	// The commit on fw2, as its metrics show it.
	fw2.mustCtl(t, "commit")
	c := scrapeOf(t, l.FW2)
	if c.value("ctsync_commits_total") != 1 || c.value("ctsync_committed_entries_total") < n ||
		c.value("ctsync_operation_running", "operation=commit") != 0 ||
		c.value("ctsync_operation_done_entries", "operation=commit") < n ||
		c.value("ctsync_operation_done_entries", "operation=commit") != c.value("ctsync_operation_goal_entries", "operation=commit") {
		t.Errorf("fw2's metrics after ctsync commit: commits %v, committed %v, running %v, done %v of %v",
			c.value("ctsync_commits_total"), c.value("ctsync_committed_entries_total"), c.value("ctsync_operation_running", "operation=commit"),
			c.value("ctsync_operation_done_entries", "operation=commit"), c.value("ctsync_operation_goal_entries", "operation=commit"))
	}

	// Malformed requests are answered and leave the endpoint and the
	// daemon serving; a client that sends half a request and stalls
	// does not hold the others up.
	err := l.FW1.Do(func() error {
		stall, err := net.Dial("tcp", metricsListen)
		if err != nil {
			return err
		}
		t.Cleanup(func() { stall.Close() })
		_, err = io.WriteString(stall, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ raw, want string }{
		{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", "400"}, // a TLS client hello
		{"GARBAGE\r\n\r\n", "400"},
		{"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "405"},
		{"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", "431"},
	} {
		resp, _, err := request(l.FW1, bad.raw)
		if err != nil || !strings.HasPrefix(resp.Status, bad.want) {
			t.Errorf("request %.40q: %v %v, want %s", bad.raw, resp, err, bad.want)
		}
	}
	if got := scrapeOf(t, l.FW1).value("ctsync_cache_active_entries", "cache=internal", "table=flows"); got < n {
		t.Errorf("fw1 after malformed requests: %v flows in its internal cache, want %d", got, n)
	}
	fw1.mustCtl(t, "stats")

	// A reload that moves the endpoint is refused, by name, and the
	// endpoint stays where it was.
	conf := filepath.Join(fw2.dir, "ctsync.hcl")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(b), metricsListen, "127.0.0.1:9725", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := fw2.ctl("reload"); err == nil || !strings.Contains(err.Error(), "the metrics endpoint changed, which needs a restart") {
		t.Errorf("ctsync reload with the metrics endpoint moved: %v %s, want a refusal naming it", err, out)
	}
	scrapeOf(t, l.FW2)
}
