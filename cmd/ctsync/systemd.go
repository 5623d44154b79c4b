package main

import (
	"log/slog"
	"net"
	"os"

	"github.com/ctsync/ctsync/config"
)

// notifySystemd tells systemd the daemon's state (READY=1, STOPPING=1)
// on the socket NOTIFY_SOCKET names, as conntrackd's "Systemd on" does
// with sd_notify (src/systemd.c), so that a Type=notify unit starts the
// units ordered after it only once the daemon is ready. Without the
// variable, or with systemd off in the configuration, it does nothing.
func notifySystemd(rt config.Runtime, log *slog.Logger, state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if !rt.Daemon.Systemd || path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn("systemd notification failed", "state", state, "err", err)
	}
}
