package syncmode

// Reusable returns how many objects the mode keeps for reuse.
func (m *Mode) Reusable() int { return len(m.free) }

// MaxReusable is maxFree.
const MaxReusable = maxFree
