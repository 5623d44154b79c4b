package control

import (
	"fmt"
	"io"
)

// ProgressWriter shows progress on a terminal, each report over the last,
// so that `ctsync commit` can say how far it is without filling the
// screen. Only a terminal should get one: in a log or a pipe the
// carriage returns are noise.
type ProgressWriter struct {
	w     io.Writer
	shown bool
}

// NewProgressWriter returns a ProgressWriter on w.
func NewProgressWriter(w io.Writer) *ProgressWriter { return &ProgressWriter{w: w} }

// Show replaces the line shown with p. It is a progress function for Do.
func (pw *ProgressWriter) Show(p Progress) {
	fmt.Fprintf(pw.w, "\r%s\x1b[K", p)
	pw.shown = true
}

// Clear removes the line shown, if any, before the command's own output.
func (pw *ProgressWriter) Clear() {
	if pw.shown {
		fmt.Fprint(pw.w, "\r\x1b[K")
		pw.shown = false
	}
}
