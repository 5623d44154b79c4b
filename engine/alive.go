package engine

import (
	"context"
	"errors"
	"fmt"
)

// errStopped is Alive's answer once Run has returned.
var errStopped = errors.New("engine: stopped")

// Alive reports whether the engine still turns: the transmitter loop,
// which takes the engine's lock on every round, answers between two
// rounds. A loop stuck, or a lock never released, gives no answer before
// ctx is done. It is what systemd's watchdog asks, so that a daemon
// whose pipeline hangs stops telling systemd it is alive, as conntrackd's
// watchdog timer in its one main loop stops (src/systemd.c).
func (e *Engine) Alive(ctx context.Context) error {
	select {
	case e.alive <- struct{}{}:
		return nil
	case <-e.closed:
		return errStopped
	case <-ctx.Done():
		return fmt.Errorf("engine: the transmitter loop did not answer: %w", ctx.Err())
	}
}
