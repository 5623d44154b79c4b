//go:build linux

package main

import (
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartFigure is one group of bars: ctsync's figure divided by
// conntrackd's, at each N, and the target for that ratio (0: none).
type chartFigure struct {
	name   string
	ratio  func(c comparison) float64
	target float64
}

var chartFigures = []chartFigure{
	{"CPU/event\nsender", func(c comparison) float64 { return safeDiv(float64(c.CTSync.CPUSender), float64(c.Legacy.CPUSender)) }, 1.0 / 3},
	{"CPU/event\nreceiver", func(c comparison) float64 {
		return safeDiv(float64(c.CTSync.CPUReceiver), float64(c.Legacy.CPUReceiver))
	}, 1.0 / 3},
	{"memory/entry\nsender", func(c comparison) float64 { return safeDiv(c.CTSync.RSSSender, c.Legacy.RSSSender) }, 0.5},
	{"memory/entry\nreceiver", func(c comparison) float64 { return safeDiv(c.CTSync.RSSReceiver, c.Legacy.RSSReceiver) }, 0.5},
	{"bytes/update", func(c comparison) float64 { return safeDiv(c.CTSync.BytesPerUpdate, c.Legacy.BytesPerUpdate) }, 0},
	{"bulk send", func(c comparison) float64 { return safeDiv(float64(c.CTSync.Bulk), float64(c.Legacy.Bulk)) }, 0},
	{"resync", func(c comparison) float64 { return safeDiv(float64(c.CTSync.Resync), float64(c.Legacy.Resync)) }, 0.5},
	{"commit", func(c comparison) float64 { return safeDiv(float64(c.CTSync.Commit), float64(c.Legacy.Commit)) }, 0.5},
}

// chartClip is the highest ratio the chart draws to scale.
const chartClip = 2.5

// chartColors tell the Ns apart; gonum's defaults are too pale for a
// white page.
var chartColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
}

// writeChart draws, as SVG, ctsync's figures divided by conntrackd's, one
// bar per N in each group, with a line at 1 (conntrackd) and a mark at
// each target: lower is better for every figure.
func writeChart(w io.Writer, rows []comparison) error {
	p, err := drawChart(rows)
	if err != nil {
		return err
	}
	wt, err := p.WriterTo(9*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// drawChart lays out writeChart's plot.
func drawChart(rows []comparison) (*plot.Plot, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("chart: no figures")
	}
	p := plot.New()
	p.Title.Text = "ctsync / conntrackd 1.4.7 (lower is better; 1 = as conntrackd)"
	p.Y.Label.Text = "ctsync's figure / conntrackd's"
	p.Y.Min = 0
	names := make([]string, len(chartFigures))
	for i, f := range chartFigures {
		names[i] = f.name
	}
	p.NominalX(names...)
	// First, so that the bars hide it.
	p.Add(plotter.NewGrid())
	width := vg.Points(60 / float64(len(rows)))
	top := 1.0
	// A bar above chartClip is cut there and its figures written over
	// its group: one ratio of 6 would otherwise flatten the others, and
	// the targets, down to a few pixels.
	clipped := make([][]string, len(chartFigures))
	for i, c := range rows {
		vals := make(plotter.Values, len(chartFigures))
		for j, f := range chartFigures {
			v := f.ratio(c)
			if v > chartClip {
				clipped[j] = append(clipped[j], fmt.Sprintf("%s: %.1f×", entries(c.N), v))
				v = chartClip
			}
			vals[j] = v
			top = max(top, v)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		bars.LineStyle.Width = 0
		bars.Color = chartColors[i%len(chartColors)]
		bars.Offset = vg.Length(float64(i)-float64(len(rows)-1)/2) * width
		p.Add(bars)
		p.Legend.Add(fmt.Sprintf("N = %s", entries(c.N)), bars)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(chartFigures)) - 0.5, Y: 1}})
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	one.Color = color.Gray{0x60}
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.Legend.Add("conntrackd", one)
	var marks plotter.XYs
	for j, f := range chartFigures {
		if f.target > 0 {
			marks = append(marks, plotter.XY{X: float64(j), Y: f.target})
		}
	}
	if len(marks) > 0 {
		s, err := plotter.NewScatter(marks)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		s.GlyphStyle.Shape = draw.BoxGlyph{}
		s.GlyphStyle.Radius = vg.Points(3)
		s.GlyphStyle.Color = color.RGBA{0xd6, 0x27, 0x28, 0xff}
		p.Add(s)
		p.Legend.Add("target", s)
	}
	var notes plotter.XYLabels
	for j, c := range clipped {
		if len(c) > 0 {
			notes.XYs = append(notes.XYs, plotter.XY{X: float64(j), Y: chartClip})
			notes.Labels = append(notes.Labels, strings.Join(c, "\n"))
		}
	}
	if len(notes.XYs) > 0 {
		l, err := plotter.NewLabels(notes)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
		}
		p.Add(l)
	}
	// Room above the highest bar for the legend and the notes.
	p.Y.Max = top * 1.35
	p.Legend.Top = true
	return p, nil
}
