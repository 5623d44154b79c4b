package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/render"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", NewRegistry(fullSnapshot), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

// TestServerAnswers: what a scraper and a mistaken or hostile client
// get; after each of them the endpoint still answers a scrape.
func TestServerAnswers(t *testing.T) {
	srv := startServer(t)
	base := "http://" + srv.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	scrape := func(t *testing.T) {
		t.Helper()
		resp, err := client.Get(base + Path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\nctsync_uptime_seconds 3725\n") ||
			!strings.Contains(string(body), "\ngo_goroutines ") {
			t.Fatalf("scrape: %s\n%.500s", resp.Status, body)
		}
	}
	scrape(t)
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"head", http.MethodHead, Path, http.StatusOK},
		{"post", http.MethodPost, Path, http.StatusMethodNotAllowed},
		{"delete", http.MethodDelete, Path, http.StatusMethodNotAllowed},
		{"another path", http.MethodGet, "/", http.StatusNotFound},
		{"a path below", http.MethodGet, Path + "/x", http.StatusNotFound},
		{"a path traversal", http.MethodGet, "/../../etc/passwd", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %s, want %d", tt.method, tt.path, resp.Status, tt.want)
			}
			scrape(t)
		})
	}
	raw := []struct {
		name, req, want string
	}{
		{"garbage", "\x00\x01GARBAGE\r\n\r\n", "400"},
		{"no HTTP version", "GET /metrics\r\n\r\n", "400"},
		{"huge header", "GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", "431"},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.Contains(line, " "+tt.want+" ") {
				t.Errorf("answered %q (%v), want status %s", line, err, tt.want)
			}
			scrape(t)
		})
	}
}

// TestListenInUse: a port in use is an error at Listen, which names the
// endpoint and the address, so the daemon can refuse to start.
func TestListenInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(ln.Addr().String(), NewRegistry(func() render.Snapshot { return render.Snapshot{} }), nil)
	if err == nil || !strings.Contains(err.Error(), "metrics endpoint") || !strings.Contains(err.Error(), ln.Addr().String()) ||
		!errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen on a port in use: %v", err)
	}
}
