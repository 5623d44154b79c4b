package cache

// pool is a slab of side records (NAT, master and helper, adjustments)
// for the objects that have them. Handles are index+1, so that 0 means
// "none" in the main record.
type pool[T any] struct {
	chunks [][]T
	top    uint32
	free   []uint32
}

func (p *pool[T]) get() uint32 {
	if n := len(p.free); n > 0 {
		h := p.free[n-1]
		p.free = p.free[:n-1]
		return h
	}
	if int(p.top>>chunkBits) == len(p.chunks) {
		p.chunks = append(p.chunks, make([]T, chunkLen))
	}
	p.top++
	return p.top
}

func (p *pool[T]) at(h uint32) *T {
	i := h - 1
	return &p.chunks[i>>chunkBits][i&(chunkLen-1)]
}

func (p *pool[T]) put(h uint32) {
	var zero T
	*p.at(h) = zero
	p.free = append(p.free, h)
}

// reset forgets every record but keeps the slabs.
func (p *pool[T]) reset() {
	for i := range p.chunks {
		clear(p.chunks[i])
	}
	p.top = 0
	p.free = p.free[:0]
}
