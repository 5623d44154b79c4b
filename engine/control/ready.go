package control

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Readiness is the answer to ready: whether this node holds a complete
// copy of its peer's state (the resync from the peer is complete and
// what it sends the peer is acknowledged), and if not, why not.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reason says, in one line, what the node has or waits for: "resync
	// from the peer complete 2m ago (1200 flows), nothing
	// unacknowledged", "waiting for the peer's table: ...".
	Reason string `json:"reason"`
	// Since is when the node entered this state, as far as the daemon
	// saw it; zero when unknown.
	Since time.Time `json:"since,omitzero"`
}

// String is the line `ctsync ready` prints: "ready: ..." or "not ready:
// ...".
func (r Readiness) String() string {
	if r.Ready {
		return "ready: " + r.Reason
	}
	return "not ready: " + r.Reason
}

// AskReady asks the daemon at path whether it is ready.
func AskReady(ctx context.Context, path string) (Readiness, error) {
	var r Readiness
	got := false
	err := Run(ctx, path, Request{Command: Ready, Format: JSON}, nil, func(b []byte) error {
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("control: the daemon's readiness is not what this client reads: %w", err)
		}
		got = true
		return nil
	})
	if err == nil && !got {
		err = fmt.Errorf("control: the daemon at %s answered ready without its readiness", path)
	}
	return r, err
}
