package lab

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctsync/ctsync/engine/ctnl"
)

// WriteFlows applies op (create, update, delete) to SyntheticFlow(i) for
// every i in idx, from workers goroutines at once, each with its own
// ctnetlink socket in n's namespace: as fast as the kernel takes them,
// which is faster than one reader of events keeps up with. Unlike Fill it
// returns its error, so that a test may run it on a goroutine of its own.
func (n *Node) WriteFlows(op ctnl.Op, idx []int, workers int) error {
	workers = max(workers, 1)
	writers := make([]*ctnl.Writer, 0, workers)
	defer func() {
		for _, w := range writers {
			w.Close()
		}
	}()
	for range workers {
		var w *ctnl.Writer
		if err := n.Do(func() (err error) { w, err = ctnl.NewWriter(ctnl.WriterConfig{Batch: 256}); return err }); err != nil {
			return fmt.Errorf("%s: %w", n.Role, err)
		}
		writers = append(writers, w)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for k, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for j := k; j < len(idx); j += workers {
				mine = append(mine, idx[j])
			}
			errs[k] = writeBatches(w, op, mine)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", n.Role, err)
	}
	return nil
}

func writeBatches(w *ctnl.Writer, op ctnl.Op, idx []int) error {
	const batch = 512
	flows := make([]ctnl.Flow, batch)
	reqs := make([]ctnl.Request, batch)
	errs := make([]error, batch)
	for start := 0; start < len(idx); start += batch {
		m := min(batch, len(idx)-start)
		for i := range m {
			flows[i] = SyntheticFlow(idx[start+i])
			reqs[i] = ctnl.Request{Op: op, Flow: &flows[i]}
		}
		if err := w.Apply(reqs[:m], errs[:m]); err != nil {
			return err
		}
		for i, err := range errs[:m] {
			if err != nil {
				return fmt.Errorf("%v %v: %w", op, flows[i].Orig, err)
			}
		}
	}
	return nil
}

// Span returns the indexes from to to-1, for WriteFlows.
func Span(from, to int) []int {
	s := make([]int, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}
