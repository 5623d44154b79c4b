package tcp

// errorQueue is a ring of parked datagrams whose buffers are reused.
type errorQueue struct {
	bufs    [][]byte
	head, n int
}

// push appends a copy of b, dropping the oldest entry when full; it
// reports whether one was dropped.
func (q *errorQueue) push(b []byte) (dropped bool) {
	if q.n == len(q.bufs) {
		q.pop()
		dropped = true
	}
	i := (q.head + q.n) % len(q.bufs)
	q.bufs[i] = append(q.bufs[i][:0], b...)
	q.n++
	return dropped
}

func (q *errorQueue) peek() []byte { return q.bufs[q.head] }

// trim drops the first n bytes of the oldest entry, which were delivered.
func (q *errorQueue) trim(n int) { q.bufs[q.head] = q.bufs[q.head][n:] }

func (q *errorQueue) pop() {
	q.head = (q.head + 1) % len(q.bufs)
	q.n--
}
