package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/cache"
)

// Reload re-reads the configuration with Options.Load and applies what
// changed without a restart: the caches and the sync sessions survive
// (conntrackd can only restart, which empties both). A file that does not
// validate changes nothing; a change that needs a restart is refused,
// named, and the running configuration stays.
func (e *Engine) Reload(ctx context.Context) error {
	if e.o.Load == nil {
		return errors.New("reload: this engine was started without a configuration file")
	}
	rt, err := e.o.Load()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return e.Apply(rt)
}

// Apply applies a new configuration, as Reload does after reading it.
func (e *Engine) Apply(rt config.Runtime) error {
	e.mu.Lock()
	old := e.rt
	e.mu.Unlock()
	if what := needsRestart(old, rt); what != "" {
		return fmt.Errorf("reload: %s changed, which needs a restart; the running configuration is kept", what)
	}
	is, err := IngestSettingsFor(rt)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if err := e.checkLimits(rt); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	// Each change below is applied or the reload stops; what was applied
	// before a failure stays, and the error says what did not.
	if !reflect.DeepEqual(old.Filter, rt.Filter) {
		if err := e.ingest.SetFilter(is); err != nil {
			return fmt.Errorf("reload: filter: %w", err)
		}
		e.log.Info("reload: filter replaced", "stages", len(rt.Filter.Stages))
	}
	// Links a failed reload left down are opened again even when the
	// configuration names those that ran before it.
	if !reflect.DeepEqual(old.Links, rt.Links) || e.peer.down() {
		if err := e.swapLinks(old.Links, rt.Links); err != nil {
			return fmt.Errorf("reload: links: %w", err)
		}
		e.log.Info("reload: links reopened", "links", len(rt.Links))
	}
	e.mu.Lock()
	e.setLimits(rt)
	e.mu.Unlock()
	e.mu.Lock()
	e.rt = rt
	e.conv = SyncConvertOptions(rt.Sync)
	e.mu.Unlock()
	if e.o.Reloaded != nil {
		e.o.Reloaded(rt)
	}
	e.log.Info("configuration reloaded")
	return nil
}

// needsRestart names the first setting that differs between old and new
// and that the engine cannot change while it runs, or returns "".
func needsRestart(old, new config.Runtime) string {
	checks := []struct {
		name string
		a, b any
	}{
		{"the daemon's mode", old.Mode, new.Mode},
		{"the sync mode", old.Sync.Mode, new.Sync.Mode},
		{"the control socket", old.Control, new.Control},
		// The daemon binds the endpoint at start, before the engine,
		// so that a port in use stops the start-up, not a reload.
		{"the metrics endpoint", old.Metrics, new.Metrics},
		{"the lock file", old.Daemon.LockFile, new.Daemon.LockFile},
		{"the polling interval", old.Daemon.PollInterval, new.Daemon.PollInterval},
		// The input stage reads it at start only.
		{"the event iteration limit", old.Daemon.EventIterationLimit, new.Daemon.EventIterationLimit},
		{"the netlink settings", old.Netlink, new.Netlink},
		{"where the filter runs (run_in)", old.Filter.RunIn, new.Filter.RunIn},
		{"which caches are enabled", [2]bool{old.Caches.Internal.Enabled, old.Caches.External.Enabled}, [2]bool{new.Caches.Internal.Enabled, new.Caches.External.Enabled}},
		{"the resend queue size", old.Sync.ResendQueueSize, new.Sync.ResendQueueSize},
		{"the ACK window size", old.Sync.ACKWindowSize, new.Sync.ACKWindowSize},
		{"the refresh time", old.Sync.RefreshTime, new.Sync.RefreshTime},
		{"the cache timeout", old.Sync.CacheTimeout, new.Sync.CacheTimeout},
		{"expectation sync", [2]any{old.Sync.ExpectationSync, old.Sync.ExpectationHelpers}, [2]any{new.Sync.ExpectationSync, new.Sync.ExpectationHelpers}},
		{"the helpers", old.Helpers, new.Helpers},
		{"the scheduler", old.Scheduler, new.Scheduler},
		{"the stats settings", old.Stats, new.Stats},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.a, c.b) {
			return c.name
		}
	}
	return ""
}

// checkLimits refuses cache limits the caches cannot take.
func (e *Engine) checkLimits(rt config.Runtime) error {
	for _, t := range []config.CacheTier{rt.Caches.Internal, rt.Caches.External} {
		if !t.Enabled {
			continue
		}
		if err := (cache.Settings{Limit: t.Limit}).Check(); err != nil {
			return err
		}
	}
	return nil
}

// setLimits applies the configured cache limits; a lower limit keeps what
// the caches hold and refuses more. The sizes (bucket hints) apply at the
// next start. e.mu is held.
func (e *Engine) setLimits(rt config.Runtime) {
	if e.internal != nil {
		e.internal.SetLimit(rt.Caches.Internal.Limit)
	}
	if e.iexp != nil {
		e.iexp.SetLimit(rt.Caches.Internal.Limit)
	}
	if e.external != nil {
		e.external.SetLimit(rt.Caches.External.Limit)
	}
	if e.eexp != nil {
		e.eexp.SetLimit(rt.Caches.External.Limit)
	}
}

// swapLinks closes the links and opens the new ones; the sync sessions
// go on over them. A link set whose datagrams would be smaller than the
// sessions were built for needs a restart.
func (e *Engine) swapLinks(old, new []config.LinkSettings) error {
	if e.openPeer == nil {
		return errors.New("this engine cannot reopen its links")
	}
	// The sessions' bound, not the current links': after a reload that
	// left no links, those report 0.
	max := e.maxDatagram
	return e.peer.swap(func() (Peer, error) {
		p, err := e.openPeer(new)
		if err != nil {
			return nil, err
		}
		if p.MaxDatagram() < max {
			p.Close()
			return nil, fmt.Errorf("the new links carry datagrams of %d bytes, fewer than the %d the sync sessions use: restart to change the MTU down", p.MaxDatagram(), max)
		}
		return p, nil
	}, func() (Peer, error) { return e.openPeer(old) })
}
