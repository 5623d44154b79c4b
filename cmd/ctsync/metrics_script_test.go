package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/render"
)

// httpCmd is "http METHOD URL": the status line, then the body, on
// stdout, for the scripts that scrape the metrics endpoint.
func httpCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: http METHOD URL")
	}
	req, err := http.NewRequest(args[0], args[1], nil)
	ts.Check(err)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n%s", resp.Status, body)
}

// freePort finds a TCP port free on the loopback address, for a script's
// metrics endpoint ($METRICS_PORT): scripts run in parallel, so a fixed
// port could be another's. The port is free when the script starts; a
// daemon that cannot bind it fails loudly.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// Snapshot is the fake engine's statistics, for the metrics endpoint.
func (e *fakeEngine) Snapshot() render.Snapshot {
	return render.Snapshot{Mode: "ftfw", Uptime: 42 * time.Second,
		Internal: &cache.Stats{Active: 2, Objects: 2, Created: 5}, External: &cache.Stats{},
		Limits: render.Limits{Internal: 262144, External: 262144},
		Ingest: render.Ingest{Events: 7}}
}
