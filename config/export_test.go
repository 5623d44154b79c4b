package config

// For the external tests (package config_test), which may import packages
// that import config.

// HintIn is exampleIn.
var HintIn = exampleIn

// HintKeys lists the keys of the examples of hints.
func HintKeys() []string {
	var out []string
	for k := range examples {
		out = append(out, k)
	}
	return out
}
