package config

import (
	"strings"
	"unicode/utf8"
)

// Source is the text of one configuration file, kept so that diagnostics
// can quote the line they are about (the "snippet" of `validate --format
// json`, as in terraform's -json output).
type Source struct {
	Name string
	Text []byte
}

// maxSnippet bounds the source text a diagnostic carries: a 10 MB line is
// quoted as the 200 bytes around the position.
const maxSnippet = 200

// Snippet is the source line a diagnostic points at.
type Snippet struct {
	// Code is the line at the diagnostic's start, without its line break;
	// of a line longer than 200 bytes, the 200 bytes around the position.
	Code string `json:"code"`
	// StartLine is the line number of Code.
	StartLine int `json:"start_line"`
	// HighlightStartOffset and HighlightEndOffset are the byte offsets in
	// Code of what the diagnostic is about (end exclusive).
	HighlightStartOffset int `json:"highlight_start_offset"`
	HighlightEndOffset   int `json:"highlight_end_offset"`
}

// AttachSource completes the diagnostics about src's file: an end position
// where the front end left none (the end of the token at the start), and
// the snippet. Diagnostics about other files are left alone.
func (ds Diagnostics) AttachSource(src *Source) {
	if src == nil {
		return
	}
	var (
		text  string // converted once: every snippet shares it
		lines []int  // offset of each line's start, built once
	)
	for i := range ds {
		d := &ds[i]
		if d.Pos.File != src.Name || d.Pos.Line < 1 || d.Snippet != nil {
			continue
		}
		if lines == nil {
			text = string(src.Text)
			lines = lineStarts(text)
		}
		if d.Pos.Line > len(lines) {
			continue
		}
		start, end := lineBounds(text, lines, d.Pos.Line)
		line := text[start:end]
		col := min(max(d.Pos.Column-1, 0), len(line))
		if d.End.Line < d.Pos.Line || d.End.Line == d.Pos.Line && d.End.Column <= d.Pos.Column {
			d.End = Pos{File: d.Pos.File, Line: d.Pos.Line, Column: col + tokenLen(line[col:]) + 1}
		}
		hiEnd := len(line)
		if d.End.Line == d.Pos.Line {
			hiEnd = min(max(d.End.Column-1, col), len(line))
		}
		lo, hi := 0, len(line)
		if len(line) > maxSnippet {
			lo = max(0, col-maxSnippet/4)
			hi = min(len(line), lo+maxSnippet)
			for lo > 0 && !utf8.RuneStart(line[lo]) {
				lo--
			}
			for hi < len(line) && !utf8.RuneStart(line[hi]) {
				hi--
			}
		}
		d.Snippet = &Snippet{
			Code:                 line[lo:hi],
			StartLine:            d.Pos.Line,
			HighlightStartOffset: min(col, hi) - lo,
			HighlightEndOffset:   min(hiEnd, hi) - lo,
		}
	}
}

// lineStarts lists the byte offset of the start of each line of text.
func lineStarts(text string) []int {
	starts := []int{0}
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		starts = append(starts, i)
	}
	return starts
}

// lineBounds is the byte range of line n (1-based), without its line break.
func lineBounds(text string, starts []int, n int) (start, end int) {
	start, end = starts[n-1], len(text)
	if n < len(starts) {
		end = starts[n] - 1
	}
	if end > start && text[end-1] == '\r' {
		end--
	}
	return start, end
}

// tokenLen is the length of the token that s starts with: a quoted string
// up to its closing quote, else up to a space or punctuation; at least one
// byte, so that an end is never before the start.
func tokenLen(s string) int {
	if s == "" {
		return 0
	}
	if s[0] == '"' || s[0] == '\'' {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case s[0]:
				return i + 1
			}
		}
		return len(s)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '{', '}', '[', ']', '(', ')', ',', ';', '=', '#':
			if i == 0 {
				return 1
			}
			return i
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' {
				return max(i, 1)
			}
		}
	}
	return len(s)
}
