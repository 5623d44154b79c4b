// Package progress shows how far a long operation (a commit, a resync)
// has come, for the person or the log that waits on it: on a terminal, a
// bar redrawn in place with a rate and an ETA; anywhere else (a pipe,
// keepalived's script output, a CI log), plain lines, a few and never a
// carriage return, since a log keeps every redraw.
//
// A Display takes the reports as they come (Update) and is told when the
// operation has ended (Finish). It reads time only through Options.Now,
// so what it prints follows from the reports and the clock alone.
package progress

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Options tune a Display. Zero fields take the defaults.
type Options struct {
	// Terminal redraws one line in place; otherwise each line printed
	// stays.
	Terminal bool
	// Width is the terminal's width in columns, which a redrawn line
	// must not reach: a wrapped line cannot be redrawn. Default 80.
	Width int
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// LineInterval is the least time between two plain lines within a
	// stage; DefaultLineInterval.
	LineInterval time.Duration
	// RedrawInterval is the least time between two redraws on a
	// terminal; DefaultRedrawInterval.
	RedrawInterval time.Duration
}

// Defaults of Options.
const (
	// A log read later needs the trend, not every step: a line every
	// few seconds of a minute-long commit is a dozen lines.
	DefaultLineInterval = 3 * time.Second
	// The eye follows no more than this; redrawing faster only costs
	// the terminal.
	DefaultRedrawInterval = 100 * time.Millisecond
	// rateWindow is how far back the rate looks: long enough to smooth
	// the batches a commit writes in, short enough that the ETA
	// follows a slowdown (a kernel table growing its hash).
	rateWindow = 5 * time.Second
	// minRateSpan is the least time a rate is measured over: over the
	// first batch alone it would be noise (millions a second).
	minRateSpan = 250 * time.Millisecond
	// sampleSpacing bounds the samples kept to rateWindow/sampleSpacing.
	sampleSpacing = 50 * time.Millisecond
)

// Display renders the progress of one operation, stage after stage, on
// one writer. It is used by one goroutine.
type Display struct {
	w io.Writer
	o Options

	started bool // a report came for the current stage
	stage   string
	done    int64
	total   int64
	begin   time.Time // of the current stage
	samples []sample  // within rateWindow, oldest first, the first as anchor
	ended   bool      // the stage's end line is printed (plain)
	last    time.Time // of the last line printed or drawn
	shown   bool      // a line is drawn on the terminal
	buf     []byte
}

type sample struct {
	t    time.Time
	done int64
}

// New returns a Display on w. The operation is taken to start now: the
// first stage's rate counts from here.
func New(w io.Writer, o Options) *Display {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width <= 0 {
		o.Width = 80
	}
	if o.LineInterval <= 0 {
		o.LineInterval = DefaultLineInterval
	}
	if o.RedrawInterval <= 0 {
		o.RedrawInterval = DefaultRedrawInterval
	}
	now := o.Now()
	d := &Display{w: w, o: o, begin: now, last: now}
	d.samples = append(d.samples, sample{now, 0})
	return d
}

// Update reports that stage has done of total items (total 0: not known).
// A new stage name ends the previous stage.
func (d *Display) Update(stage string, done, total int64) {
	now := d.o.Now()
	changed := !d.started || stage != d.stage
	if d.started && changed {
		// The previous stage ended, and this one began, at the
		// previous report: the daemon moved on right after it.
		prev := d.samples[len(d.samples)-1].t
		d.endStage(prev)
		d.begin, d.last, d.ended = prev, prev, false
		d.samples = append(d.samples[:0], sample{prev, 0})
	}
	d.started, d.stage, d.done, d.total = true, stage, done, total
	d.sample(now, done)
	complete := total > 0 && done >= total
	if d.o.Terminal {
		if changed || complete || now.Sub(d.last) >= d.o.RedrawInterval {
			d.draw(now, complete)
		}
		return
	}
	switch {
	case d.ended:
	case complete:
		d.endStage(now)
	case now.Sub(d.last) >= d.o.LineInterval:
		d.print(now, false)
	}
}

// Finish ends the operation: a plain display prints the last stage's end
// line, unless it has already; a terminal's bar is cleared, so that what
// the command prints next starts on a clean line.
func (d *Display) Finish() {
	if d.o.Terminal {
		if d.shown {
			io.WriteString(d.w, "\r\x1b[K")
			d.shown = false
		}
		return
	}
	if d.started {
		d.endStage(d.o.Now())
	}
}

// endStage prints the current stage's end line on a plain display, once.
func (d *Display) endStage(now time.Time) {
	if d.o.Terminal || d.ended {
		return
	}
	d.print(now, true)
	d.ended = true
}

// sample records done at now and forgets what is older than the window,
// keeping one sample at or beyond its edge to measure from.
func (d *Display) sample(now time.Time, done int64) {
	// Reports closer than sampleSpacing replace each other: the window
	// then holds a bounded number of samples, whatever the sender's pace.
	if n := len(d.samples); n >= 2 && now.Sub(d.samples[n-2].t) < sampleSpacing {
		d.samples[n-1] = sample{now, done}
	} else {
		d.samples = append(d.samples, sample{now, done})
	}
	edge := now.Add(-rateWindow)
	i := 0
	for i+1 < len(d.samples)-1 && !d.samples[i+1].t.After(edge) {
		i++
	}
	if i > 0 {
		d.samples = append(d.samples[:0], d.samples[i:]...)
	}
}

// rate is items per second over the window, and whether it is known:
// over less than minRateSpan, the first batch alone, it would be noise.
func (d *Display) rate() (float64, bool) {
	first, last := d.samples[0], d.samples[len(d.samples)-1]
	dt := last.t.Sub(first.t)
	if dt < minRateSpan {
		return 0, false
	}
	// A stage's count does not go back; should a sender's do, the
	// rate says it stalled rather than run backwards.
	return max(float64(last.done-first.done)/dt.Seconds(), 0), true
}

// line renders the stage's state: "commit: 400000/1000000 (40%)
// 76000/s, ETA 8s"; at the end, the stage's mean rate and how long it
// took instead of the ETA.
func (d *Display) line(now time.Time, end bool) []byte {
	b := d.buf[:0]
	if d.stage != "" {
		b = append(b, d.stage...)
		b = append(b, ": "...)
	}
	b = fmt.Appendf(b, "%d", d.done)
	if d.total > 0 {
		b = fmt.Appendf(b, "/%d (%d%%)", d.total, percent(d.done, d.total))
	}
	return append(b, d.tail(now, end)...)
}

// tail is the rate and the ETA, or the time taken.
func (d *Display) tail(now time.Time, end bool) string {
	if end {
		took := now.Sub(d.begin)
		switch {
		case took <= 0:
			return ""
		case d.done <= 0:
			// Nothing to commit: a rate of 0/s would read as a stall.
			return ", took " + tookString(took)
		}
		return fmt.Sprintf(" %s/s, took %s", rateString(float64(d.done)/took.Seconds()), tookString(took))
	}
	r, ok := d.rate()
	if !ok {
		return ""
	}
	s := " " + rateString(r) + "/s"
	switch {
	case d.total <= 0:
	case r <= 0:
		s += ", ETA unknown"
	default:
		left := max(d.total-d.done, 0)
		s += ", ETA " + etaString(time.Duration(float64(left)/r*float64(time.Second)))
	}
	return s
}

func (d *Display) print(now time.Time, end bool) {
	d.buf = append(d.line(now, end), '\n')
	d.w.Write(d.buf)
	d.last = now
}

// draw redraws the terminal's line: the stage, a bar when the total is
// known and the width leaves room, the counts, the rate and the ETA.
func (d *Display) draw(now time.Time, end bool) {
	var counts string
	if d.total > 0 {
		counts = fmt.Sprintf("%3d%% %d/%d", percent(d.done, d.total), d.done, d.total)
	} else {
		counts = fmt.Sprint(d.done)
	}
	s := d.stage + " "
	if w := d.barWidth(); w > 0 {
		s += barString(d.done, d.total, w) + " "
	}
	s = strings.TrimLeft(s+counts+d.tail(now, end), " ")
	// One column short of the width: writing the last column wraps
	// on some terminals, and a wrapped line is not redrawn in place.
	if len(s) > d.o.Width-1 {
		s = s[:d.o.Width-1]
	}
	d.buf = append(append(append(d.buf[:0], '\r'), s...), "\x1b[K"...)
	d.w.Write(d.buf)
	d.shown = true
	d.last = now
}

// barWidth is the bar's width for the stage, or 0 for none (no total, or
// too narrow a terminal). It leaves room for the widest counts and a
// long tail, so that the bar keeps its width while the numbers change.
func (d *Display) barWidth() int {
	if d.total <= 0 {
		return 0
	}
	counts := len(fmt.Sprintf("100%% %d/%d", d.total, d.total))
	w := d.o.Width - 1 - len(d.stage) - 1 - 2 - 1 - counts - tailRoom
	if w < minBar {
		return 0
	}
	return min(w, maxBar)
}

// The bar's width bounds, in cells between its brackets, and the room
// kept for the rate and the ETA or the time taken (" 10000000/s, took
// 200ms").
const (
	minBar   = 10
	maxBar   = 40
	tailRoom = 24
)

// barString is "[=====>    ]" with width cells between the brackets.
func barString(done, total int64, width int) string {
	fill := int(int64(width) * int64(percent(done, total)) / 100)
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case fill >= width:
		b.WriteString(strings.Repeat("=", width))
	default:
		b.WriteString(strings.Repeat("=", fill))
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-fill-1))
	}
	b.WriteByte(']')
	return b.String()
}

// percent is done of total, within 0 to 100: a table that grew during a
// dump may yield more than its count said.
func percent(done, total int64) int64 {
	if total <= 0 || done <= 0 {
		return 0
	}
	if done >= total {
		return 100
	}
	return done * 100 / total
}

// rateString rounds a rate to two significant digits (76000, 1200, 57):
// the rate is an estimate, and more digits flicker on a terminal.
func rateString(r float64) string {
	if r < 100 {
		return fmt.Sprintf("%.0f", r)
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-1)
	return fmt.Sprintf("%.0f", math.Round(r/p)*p)
}

// etaString rounds up to the second: "8s", "1m05s", "2h03m".
func etaString(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// tookString is etaString, with milliseconds under a second and tenths
// under ten: short commits are the common case, and "0s" would say
// nothing.
func tookString(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return etaString(d)
}
