package progress

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// clock is a test's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// step is one thing that happens to a display: time passes, then a
// report comes (or, with finish, the operation ends).
type step struct {
	after  time.Duration
	stage  string
	done   int64
	total  int64
	finish bool
}

// steady reports a stage at rate items a second every 200 ms (the
// daemon's progress interval) until it has done total (or, with an
// unknown total, for the given time), as a commit's batches do.
func steady(stage string, from, rate, total int64, unknownFor time.Duration) []step {
	const every = 200 * time.Millisecond
	var s []step
	per := rate * int64(every) / int64(time.Second)
	for done, t := from+per, every; ; done, t = done+per, t+every {
		if unknownFor > 0 {
			if t > unknownFor {
				return s
			}
			s = append(s, step{after: every, stage: stage, done: done})
			continue
		}
		if done >= total {
			return append(s, step{after: every, stage: stage, done: total, total: total})
		}
		s = append(s, step{after: every, stage: stage, done: done, total: total})
	}
}

func run(steps []step, o Options) string {
	var b bytes.Buffer
	c := &clock{t: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
	o.Now = c.now
	d := New(&b, o)
	for _, s := range steps {
		c.t = c.t.Add(s.after)
		if s.finish {
			d.Finish()
			continue
		}
		d.Update(s.stage, s.done, s.total)
	}
	return b.String()
}

func cat(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

var finish = []step{{after: 10 * time.Millisecond, finish: true}}

// scenarios are the operations the golden files show, on a terminal
// and as plain lines.
var scenarios = []struct {
	name  string
	steps []step
}{
	// A commit of 1M flows at 100k/s, then its expectations: two
	// stages.
	{"commit", cat(steady("commit", 0, 100000, 1000000, 0), []step{{after: 30 * time.Millisecond, stage: "commit expectations", done: 3, total: 3}}, finish)},
	// A dump of the kernel's table whose size is not known.
	{"unknown-total", cat(steady("kernel dump", 0, 50000, 0, 7*time.Second), finish)},
	// A commit that slows down to half its speed, then stalls and
	// fails half-way.
	{"slowdown", cat(steady("commit", 0, 100000, 1000000, 0)[:15], steady("commit", 300000, 50000, 1000000, 0)[:30],
		[]step{{after: 6 * time.Second, stage: "commit", done: 650000, total: 1000000}}, finish)},
	// A commit quicker than one line: only its end is printed.
	{"short", cat([]step{{after: 150 * time.Millisecond, stage: "commit", done: 2048, total: 5000}, {after: 100 * time.Millisecond, stage: "commit", done: 5000, total: 5000}}, finish)},
	// Nothing reported (a command without progress): nothing shown.
	{"silent", finish},
}

func TestGolden(t *testing.T) {
	for _, sc := range scenarios {
		for _, term := range []bool{false, true} {
			name := sc.name + ".plain"
			if term {
				name = sc.name + ".term"
			}
			t.Run(name, func(t *testing.T) {
				got := run(sc.steps, Options{Terminal: term, Width: 72})
				if term {
					// Each redraw on a line of its own, to read.
					got = strings.ReplaceAll(got, "\r", "\n\\r")
				}
				golden := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s (go test ./internal/progress -update, then review the diff):\n%s", golden, got)
				}
			})
		}
	}
}

// The example of issue 10: 400000 of 1000000 done at 76000/s.
func TestRateAndETA(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  string // the last line printed
	}{
		{"steady", cat(steady("commit", 0, 76000, 1000000, 0)[:25], []step{{after: 3 * time.Second, stage: "commit", done: 380000 + 3*76000, total: 1000000}}),
			"commit: 608000/1000000 (60%) 76000/s, ETA 6s"},
		// The rate is the last five seconds': a slowdown shows in
		// the ETA.
		{"slowdown", cat(steady("commit", 0, 100000, 1000000, 0)[:25], steady("commit", 500000, 20000, 1000000, 0)[:30]),
			"commit: 620000/1000000 (62%) 20000/s, ETA 19s"},
		{"stalled", cat(steady("commit", 0, 100000, 1000000, 0)[:10], []step{{after: 6 * time.Second, stage: "commit", done: 200000, total: 1000000}}),
			"commit: 200000/1000000 (20%) 0/s, ETA unknown"},
		{"unknown total", cat(steady("kernel dump", 0, 40000, 0, 3*time.Second)),
			"kernel dump: 120000 40000/s"},
		// A table that grew while it was dumped: more done than the
		// count said, never above 100%.
		{"beyond total", cat(steady("kernel dump", 0, 40000, 0, 3*time.Second)[:14], []step{{after: time.Second, stage: "kernel dump", done: 120000, total: 100000}}),
			"kernel dump: 120000/100000 (100%) 32000/s, took 3.8s"},
		{"hours", cat(steady("commit", 0, 100, 10000000, 0)[:15], []step{{after: 3 * time.Second, stage: "commit", done: 600, total: 10000000}}),
			"commit: 600/10000000 (0%) 100/s, ETA 27h46m"},
		{"no stage", []step{{after: 3 * time.Second, done: 30, total: 60}},
			"30/60 (50%) 10/s, ETA 3s"},
		// An empty cache: a commit of nothing.
		{"nothing", []step{{after: 2 * time.Millisecond, stage: "commit"}, {after: time.Millisecond, finish: true}},
			"commit: 0, took 3ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(tt.steps, Options{LineInterval: time.Nanosecond})
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.want {
				t.Errorf("last line %q, want %q\nall:\n%s", got, tt.want, out)
			}
		})
	}
}

// Plain output is for logs: no carriage return or escape, within a
// stage lines at least LineInterval apart, and each stage's end line
// once.
func TestPlainPace(t *testing.T) {
	steps := cat(steady("commit", 0, 100000, 2000000, 0), steady("commit expectations", 0, 10, 20, 0), finish)
	// Reports far faster than the daemon sends them.
	for i := range steps {
		steps[i].after /= 20
	}
	out := run(steps, Options{LineInterval: 200 * time.Millisecond})
	if strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("plain output has a carriage return or an escape:\n%q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// 20 s of commit at 1/20 the time: 1 s, a line each 200 ms, and
	// the end lines.
	if len(lines) < 4 || len(lines) > 7 {
		t.Errorf("%d lines, want 4 to 7:\n%s", len(lines), out)
	}
	ends := regexp.MustCompile(`(?m)^(commit|commit expectations): (\d+)/(\d+) \(100%\) \d+/s, took `).FindAllStringSubmatch(out, -1)
	if len(ends) != 2 || ends[0][1] != "commit" || ends[1][1] != "commit expectations" {
		t.Errorf("want one end line per stage, in order:\n%s", out)
	}
}

// A terminal's line is redrawn in place within the width, at a bounded
// pace, and cleared at the end.
func TestTerminal(t *testing.T) {
	steps := cat(steady("commit", 0, 1000000, 2000000, 0), steady("commit expectations", 0, 10, 20, 0))
	for i := range steps {
		steps[i].after /= 10 // 50 reports a second
	}
	for _, width := range []int{20, 40, 80, 200} {
		out := run(cat(steps, finish), Options{Terminal: true, Width: width})
		if strings.Contains(out, "\n") {
			t.Fatalf("width %d: a newline on the terminal:\n%q", width, out)
		}
		if !strings.HasSuffix(out, "\r\x1b[K") || strings.HasSuffix(out, "\r\x1b[K\r\x1b[K") {
			t.Errorf("width %d: the line is not cleared once at the end: %q", width, out[max(len(out)-80, 0):])
		}
		draws := strings.Split(strings.TrimPrefix(strings.TrimSuffix(out, "\r\x1b[K"), "\r"), "\r")
		for _, d := range draws {
			d = strings.TrimSuffix(d, "\x1b[K")
			if len(d) >= width {
				t.Errorf("width %d: line of %d columns: %q", width, len(d), d)
			}
		}
		// 2 s of reports at 100 ms at most, plus each stage's first
		// and last.
		if len(draws) > 24 {
			t.Errorf("width %d: %d redraws, want at most 24", width, len(draws))
		}
		if width >= 80 && !regexp.MustCompile(`commit \[={10,}\] 100% 2000000/2000000 `).MatchString(out) {
			t.Errorf("width %d: no full bar for the commit stage:\n%q", width, out)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{rateString(0), "0"},
		{rateString(57.4), "57"},
		{rateString(1234), "1200"},
		{rateString(76049), "76000"},
		{rateString(1049999), "1000000"},
		{etaString(0), "0s"},
		{etaString(7100 * time.Millisecond), "8s"},
		{etaString(65 * time.Second), "1m05s"},
		{etaString(2*time.Hour + 3*time.Minute + 59*time.Second), "2h03m"},
		{tookString(30 * time.Millisecond), "30ms"},
		{tookString(1300 * time.Millisecond), "1.3s"},
		{tookString(13 * time.Second), "13s"},
		{barString(0, 100, 10), "[>         ]"},
		{barString(55, 100, 10), "[=====>    ]"},
		{barString(100, 100, 10), "[==========]"},
		{barString(150, 100, 10), "[==========]"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
