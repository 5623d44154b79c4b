package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/config"
)

// notifySystemd tells systemd the daemon's state (READY=1, STOPPING=1,
// WATCHDOG=1) on the socket NOTIFY_SOCKET names, as conntrackd's
// "Systemd on" does with sd_notify (src/systemd.c), so that a
// Type=notify unit starts the units ordered after it only once the daemon
// is ready. Without the variable, or with systemd off in the
// configuration, it does nothing.
//
// It is written by hand rather than with go-systemd's daemon package:
// the protocol is one datagram, and the package would add a dependency
// for these lines and the watchdog's variables below, which it reads the
// same way.
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

// readyState is what the daemon tells systemd once it serves. MAINPID
// names this process: conntrackd sends it from the parent it forks
// away from with -d; a ctsync started through a wrapper says the same.
func readyState() string { return fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()) }

// reloadingState is what the daemon tells systemd when SIGHUP starts a
// reload; READY=1 follows when it is done, applied or not. A unit of
// Type=notify-reload (systemd 253) waits for that pair; conntrackd has no
// reload to announce. MONOTONIC_USEC is required with RELOADING=1.
func reloadingState() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// watchdogInterval is how often to tell systemd's watchdog that the
// daemon lives: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
// advises and conntrackd does, when the variable is set and
// WATCHDOG_PID, if set, names this process. 0 means no watchdog.
func watchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, nil // meant for another process of the unit
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	return time.Duration(n/2) * time.Microsecond, nil
}

// aliveEngine is an engine that can say whether it still turns
// (engine.Engine.Alive).
type aliveEngine interface {
	Alive(ctx context.Context) error
}

// startWatchdog tells systemd's watchdog every interval that the daemon
// lives, as long as the engine answers Alive within the interval (an
// engine that cannot be asked is taken to live while the daemon does).
// systemd restarts a unit whose watchdog is not told within
// WatchdogSec; a daemon whose pipeline hangs must let that happen. It
// returns the function that stops it.
func startWatchdog(rt config.Runtime, log *slog.Logger, eng daemonEngine, interval time.Duration) (stop func()) {
	if !rt.Daemon.Systemd || interval <= 0 || os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	ae, _ := eng.(aliveEngine)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		failing := false
		for {
			// The first notification goes at once: the watchdog
			// runs from READY on.
			err := alive(ctx, ae, interval)
			if ctx.Err() != nil {
				return
			}
			switch {
			case err == nil:
				if failing {
					log.Info("the engine answers again; telling systemd's watchdog again")
					failing = false
				}
				notifySystemd(rt, log, "WATCHDOG=1")
			case !failing:
				log.Error("the engine does not answer; not telling systemd's watchdog it is alive", "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("systemd watchdog", "interval", interval.String())
	return func() {
		cancel()
		<-done
	}
}

func alive(ctx context.Context, ae aliveEngine, within time.Duration) error {
	if ae == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	err := ae.Alive(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", within, err)
	}
	return err
}
