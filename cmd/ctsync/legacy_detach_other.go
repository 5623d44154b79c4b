//go:build !linux

package main

import "log/slog"

// detachDaemon is conntrackd -d, which needs Linux, as the daemon does.
func detachDaemon(configPath string, o *legacyOut) int {
	o.log("ERROR", "daemon mode needs Linux")
	return exitFailed
}

func detachedReady(*slog.Logger) {}
