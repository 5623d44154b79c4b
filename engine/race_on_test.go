//go:build race

package engine_test

// raceEnabled: the race detector slows the engine tenfold; the scale tests
// then use fewer flows.
const raceEnabled = true
