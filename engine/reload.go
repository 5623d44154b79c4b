package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/ctsync/ctsync/config"
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
	if !reflect.DeepEqual(old.Filter, rt.Filter) {
		if err := e.ingest.SetFilter(is); err != nil {
			return fmt.Errorf("reload: filter: %w", err)
		}
	}
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
		{"the lock file", old.Daemon.LockFile, new.Daemon.LockFile},
		{"the polling interval", old.Daemon.PollInterval, new.Daemon.PollInterval},
		{"the netlink settings", old.Netlink, new.Netlink},
		{"where the filter runs (run_in)", old.Filter.RunIn, new.Filter.RunIn},
		{"the caches", old.Caches, new.Caches},
		{"the links", old.Links, new.Links},
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
