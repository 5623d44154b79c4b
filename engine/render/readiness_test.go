package render

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/control"
)

// The JSON statistics carry the readiness when known, as ctsync ready
// answers it, and leave it out when not.
func TestStatsJSONReadiness(t *testing.T) {
	since := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	for _, r := range []*control.Readiness{nil, {Ready: false, Reason: "waiting for the peer's table"}, {Ready: true, Reason: "complete", Since: since}} {
		b := AppendStatsJSON(nil, &Snapshot{Mode: "ftfw", Readiness: r})
		var got struct {
			Readiness *control.Readiness `json:"readiness"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		switch {
		case r == nil && got.Readiness != nil:
			t.Errorf("unknown readiness given as %+v", got.Readiness)
		case r != nil && (got.Readiness == nil || got.Readiness.Ready != r.Ready || got.Readiness.Reason != r.Reason || !got.Readiness.Since.Equal(r.Since)):
			t.Errorf("readiness %+v came out as %s", r, b)
		}
	}
}
