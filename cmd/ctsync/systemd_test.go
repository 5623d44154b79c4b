package main

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
)

// With NOTIFY_SOCKET set and systemd on (conntrackd's default), the state
// reaches systemd's socket; with systemd off, nothing is sent.
func TestNotifySystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	log := slog.New(slog.DiscardHandler)

	var off config.Runtime
	notifySystemd(off, log, "READY=1")
	on := config.Runtime{Daemon: config.DaemonSettings{Systemd: true}}
	notifySystemd(on, log, "STOPPING=1")

	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "STOPPING=1" {
		t.Errorf("first notification %q, want STOPPING=1 (systemd off sends none)", got)
	}
}
