package syncmode

import (
	"container/heap"
	"time"
)

// alarmTimers are ALARM's per-object refresh timers. Each armed object has
// one heap entry; re-arming only moves its deadline, and the entry is pushed
// back when it comes up early, so an update costs no heap operation.
type alarmTimers struct {
	h        timerHeap
	deadline map[objRef]time.Time
}

type timerEntry struct {
	at  time.Time
	ref objRef
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (a *alarmTimers) init() { a.deadline = make(map[objRef]time.Time) }

func (a *alarmTimers) arm(r objRef, now time.Time, d time.Duration) {
	_, had := a.deadline[r]
	a.deadline[r] = now.Add(d)
	if !had {
		heap.Push(&a.h, timerEntry{now.Add(d), r})
	}
}

func (a *alarmTimers) stop(r objRef) { delete(a.deadline, r) }

// next is when the earliest heap entry comes up (maybe early: see due).
func (a *alarmTimers) next() time.Time {
	if len(a.h) == 0 {
		return time.Time{}
	}
	return a.h[0].at
}

// due returns an object whose timer has expired by now, and disarms it.
func (a *alarmTimers) due(now time.Time) (objRef, bool) {
	for len(a.h) > 0 && !a.h[0].at.After(now) {
		e := a.h[0]
		at, ok := a.deadline[e.ref]
		switch {
		case !ok:
			heap.Pop(&a.h) // stopped
		case at.After(now):
			a.h[0].at = at // re-armed later: move the entry
			heap.Fix(&a.h, 0)
		default:
			heap.Pop(&a.h)
			delete(a.deadline, e.ref)
			return e.ref, true
		}
	}
	return objRef{}, false
}
