package control

import (
	"strings"
	"testing"
)

func TestProgressWriter(t *testing.T) {
	var b strings.Builder
	pw := NewProgressWriter(&b)
	pw.Clear()
	if b.Len() != 0 {
		t.Errorf("Clear with nothing shown wrote %q", b.String())
	}
	pw.Show(Progress{Stage: "resync", Done: 10})
	pw.Show(Progress{Done: 50, Total: 200})
	pw.Clear()
	want := "\rresync: 10\x1b[K\r50/200 (25%)\x1b[K\r\x1b[K"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
