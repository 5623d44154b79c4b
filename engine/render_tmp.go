package engine

import (
	"fmt"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// TODO(render): replaced by engine/render's conntrackd-format lines.
func appendFlowText(b []byte, e *cache.Entry, now time.Time) []byte {
	t := &e.Flow.Orig
	return fmt.Appendf(b, "proto=%d src=%s dst=%s sport=%d dport=%d mark=%d zone=%d [active since %ds]",
		t.Proto, t.Src, t.Dst, t.SrcPort, t.DstPort, e.Flow.Mark, e.Flow.Zone, int64(now.Sub(e.Created)/time.Second))
}

func appendFlowJSON(b []byte, e *cache.Entry, now time.Time) []byte {
	t := &e.Flow.Orig
	return fmt.Appendf(b, `{"proto":%d,"src":%q,"dst":%q,"sport":%d,"dport":%d}`, t.Proto, t.Src.String(), t.Dst.String(), t.SrcPort, t.DstPort)
}
