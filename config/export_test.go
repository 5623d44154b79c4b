package config

// For the external tests (package config_test), which may import packages
// that import config.

// HintIn is exampleIn.
var HintIn = exampleIn

// HintKeys lists the examples of hints, with whether each is written
// inside a link (else at the top level).
func HintKeys() map[string]bool {
	out := map[string]bool{}
	for k, e := range examples {
		out[k] = e.scope == inLink
	}
	return out
}
