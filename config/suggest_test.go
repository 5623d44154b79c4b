package config

import (
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	keywords := []string{"HashLimit", "HashSize", "LockFile", "LogFile", "Multicast", "UDP"}
	tests := []struct {
		name       string
		word       string
		candidates []string
		want       string
	}{
		{"case only wins", "hashsize", keywords, "HashSize"},
		{"case only, upper", "udp", keywords, "UDP"},
		{"one typo", "HashSise", keywords, "HashSize"},
		{"swapped letters are one typo", "HashSzie", keywords, "HashSize"},
		{"two typos in a long word", "HashLimmt", keywords, "HashLimit"},
		{"two typos in a short word are another word", "ftwq", []string{"ftfw", "alarm"}, ""},
		{"one typo in a short word", "upd", []string{"multicast", "udp", "tcp"}, "udp"},
		{"one typo in a 3-letter word", "tpc", []string{"udp", "tcp"}, "tcp"},
		{"nearest wins", "LogFil", keywords, "LogFile"},
		{"tie goes to the first", "LocFile", keywords, "LockFile"},
		{"prefix", "multi", keywords, "Multicast"},
		{"prefix needs 3 letters", "mu", keywords, ""},
		{"nothing near", "colour", keywords, ""},
		{"no candidates", "x", nil, ""},
		{"empty word", "", keywords, ""},
		{"long input is no typo", strings.Repeat("a", 10000), keywords, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Suggest(tt.word, tt.candidates); got != tt.want {
				t.Errorf("Suggest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"ab", "ba", 1},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
		{"tcp", "tcp", 0},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
