package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the metrics: what every Prometheus
// scrape configuration asks for unless told otherwise.
const Path = "/metrics"

// Limits of the endpoint, so that a slow or hostile client (it may be
// reachable from more than the monitoring host) costs a bounded share of
// the daemon: a scrape takes one snapshot under the engine's lock, and
// the sync pipeline matters more than a scrape.
const (
	maxInFlight       = 4                // concurrent scrapes; more get 503
	scrapeTimeout     = 10 * time.Second // to gather and write one scrape
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = time.Minute
	maxHeaderBytes    = 8 << 10
)

// Server is the metrics endpoint.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr ("host:port"), so that a port in use stops the
// daemon's start-up; Serve then answers on it.
func Listen(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scrape := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogLogger{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxInFlight,
		Timeout:             scrapeTimeout,
	})
	// One path, matched as sent: no redirects of "cleaned" paths, which
	// a scraper never needs.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != Path:
			http.Error(w, "ctsync serves its metrics on "+Path, http.StatusNotFound)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the metrics are read with GET", http.StatusMethodNotAllowed)
		default:
			scrape.ServeHTTP(w, r)
		}
	})
	return &Server{ln: ln, srv: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readHeaderTimeout,
		WriteTimeout:      scrapeTimeout + 5*time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers scrapes until Shutdown; it returns nil then.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics endpoint: %w", err)
	}
	return nil
}

// Shutdown stops the endpoint: scrapes in progress get until ctx is done
// to finish, then their connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	return err
}

// Close stops the endpoint at once, also when it was never served.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.ln.Close() // Serve not called: the server does not own it yet
	return err
}

// slogLogger is promhttp's error log on the daemon's: a scrape that
// failed is worth a line, at warning level.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Println(v ...any) { l.log.Warn("metrics endpoint: " + fmt.Sprint(v...)) }
