package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Progress tells how far a long operation (commit, resync) has come.
type Progress struct {
	// Stage names the step when an operation has several (committing
	// conntracks, then expectations); it may be empty.
	Stage string `json:"stage,omitempty"`
	Done  int64  `json:"done"`
	// Total is 0 when not known in advance.
	Total int64 `json:"total,omitempty"`
}

// String renders p for a terminal: "commit: 1200/5000 (24%)".
func (p Progress) String() string {
	s := fmt.Sprint(p.Done)
	if p.Total > 0 {
		s = fmt.Sprintf("%d/%d (%d%%)", p.Done, p.Total, p.Done*100/p.Total)
	}
	if p.Stage != "" {
		s = p.Stage + ": " + s
	}
	return s
}

// result is the last line of every response.
type result struct {
	OK    bool   `json:"ok"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// line is one response line as a client decodes it. Exactly one field is
// set.
type line struct {
	Progress *Progress `json:"progress,omitempty"`
	Data     jsonRaw   `json:"data,omitempty"`
	Result   *result   `json:"result,omitempty"`
}

// jsonRaw keeps a data value as sent, so that a JSON data line reaches the
// caller byte for byte.
type jsonRaw []byte

func (r *jsonRaw) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// DefaultMaxLine bounds a response line. A dump line is a few hundred
// bytes and a stats object a few kilobytes; the bound keeps a client from
// buffering without end whatever a server sends.
const DefaultMaxLine = 1 << 20

// ErrLineTooLong is returned by an Emit given a line longer than the
// server's limit.
var ErrLineTooLong = errors.New("control: data line too long")

// appendTextData appends a data line holding s as a JSON string.
func appendTextData(b, s []byte) []byte {
	b = append(b, `{"data":`...)
	b = appendJSONString(b, s)
	return append(b, "}\n"...)
}

// appendJSONData appends a data line holding the JSON value v, compacted
// so that a newline inside it cannot end the line early. Invalid JSON is
// an error: the handler broke the protocol, not the client.
func appendJSONData(b, v []byte) ([]byte, error) {
	start := len(b)
	b = append(b, `{"data":`...)
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 && json.Valid(v) {
		b = append(b, v...)
	} else {
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return b[:start], fmt.Errorf("control: data is not one JSON value: %w", err)
		}
		b = append(b, c.Bytes()...)
	}
	return append(b, "}\n"...), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so every line is valid JSON; it costs no
// allocation, unlike json.Marshal, which matters for a 100k-line dump.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy a run of bytes that need no escape at once.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

func appendProgress(b []byte, p Progress) []byte {
	j, _ := json.Marshal(struct {
		Progress Progress `json:"progress"`
	}{p})
	return append(append(b, j...), '\n')
}

func appendResult(b []byte, r result) []byte {
	j, _ := json.Marshal(struct {
		Result result `json:"result"`
	}{r})
	return append(append(b, j...), '\n')
}
