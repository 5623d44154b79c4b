package cache

import "testing"

// BenchmarkFlush1M is `ctsync flush` of a million flows: it runs under
// the engine's lock, so it must be short, and it is too short for a
// progress display to be of use (milliseconds, where a commit of as
// many takes seconds).
func BenchmarkFlush1M(b *testing.B) {
	const n = 1 << 20
	c := filled(b, n, nil)
	for b.Loop() {
		c.Flush()
		b.StopTimer()
		for i := range n {
			f := benchFlow(i)
			c.Update(&f, epoch)
		}
		b.StartTimer()
	}
}
