package control

import (
	"sync"
	"time"
)

// refusalLogEvery spaces the warnings about refused clients. A broken or
// hostile client can connect thousands of times a second; ServerStats
// counts every refusal, the log needs only to say it goes on.
const refusalLogEvery = 10 * time.Second

// refusalLog decides which refusals are logged: the first, then one per
// refusalLogEvery, each with the number left out since the last.
type refusalLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed uint64
}

// allow reports whether a refusal at now is logged, and how many were
// left out before it.
func (r *refusalLog) allow(now time.Time) (bool, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < refusalLogEvery {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}

// warnRefused logs a refusal, unless one was logged less than
// refusalLogEvery ago.
func (s *Server) warnRefused(msg string, args ...any) {
	ok, n := s.refusals.allow(s.o.Now())
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "not_logged_since_last", n)
	}
	s.log.Warn(msg, args...)
}
