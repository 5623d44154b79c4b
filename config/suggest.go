package config

import (
	"fmt"
	"strings"
)

// Suggest returns the candidate the user most likely meant by word, or ""
// when none is close enough to be a typo. Every "did you mean" of ctsync
// comes from here (except YAML's unknown keys, which copy hclsyntax's rule
// so that YAML and HCL say the same), so that one misspelling gets one
// answer whichever front end reads it.
//
// A candidate equal to word but for case wins outright. Otherwise the
// nearest by edit distance, ignoring case, where swapping two adjacent
// letters counts as one edit, is taken if it is at most 2 edits away, or 1
// when either word has 4 letters or fewer (two edits turn most short words
// into other words), or when word, at least 3 letters, begins the candidate
// ("multi" for "multicast"). Ties go to the earlier candidate.
func Suggest(word string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(word, c) {
			return c
		}
	}
	lw := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(lw, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := 2
	if min(len(lw), len(best)) <= 4 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	if len(lw) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), lw) {
				return c
			}
		}
	}
	return ""
}

// DidYouMean is Suggest as the tail of a message: "; did you mean X?", or
// "" without a suggestion. Every message that ends so is written here.
func DidYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// editDistance is the Damerau–Levenshtein (optimal string alignment)
// distance, so a swapped pair of letters counts as one typo. Words here are
// keywords and names, so the quadratic table stays small; the limit keeps
// it so for input that is not.
func editDistance(a, b string) int {
	const limit = 256
	if len(a) > limit || len(b) > limit {
		return max(len(a), len(b))
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
