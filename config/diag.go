package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Severity says whether a diagnostic makes a configuration invalid.
type Severity int

const (
	// Error makes the configuration invalid.
	Error Severity = iota
	// Warning is reported but leaves the configuration valid (unless --strict).
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes a Severity print as its name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a place in a source file. Line and Column are 1-based; Column counts
// bytes, as compilers and editors expect in "file:line:col".
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "<input>"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// PosOf converts the start of an HCL range.
func PosOf(r hcl.Range) Pos {
	return Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column}
}

// Diagnostic is one problem found in a configuration, by any front end (HCL,
// HCL JSON, YAML, legacy conntrackd.conf). Code is a stable, machine-readable
// identifier documented in docs/diagnostics.md; Message is for people.
type Diagnostic struct {
	Pos Pos `json:"-"`
	// End is where what the diagnostic is about ends (exclusive), in the
	// same file; zero when unknown (AttachSource then takes the token at
	// Pos).
	End Pos `json:"-"`
	// Snippet quotes the source line at Pos; nil until AttachSource.
	Snippet  *Snippet `json:"-"`
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	// Detail is an optional second sentence: what was expected, a hint.
	Detail string `json:"detail,omitempty"`
	// Repeats counts the further occurrences folded into this one by Fold,
	// and Last is where the last of them is.
	Repeats int  `json:"repeats,omitempty"`
	Last    *Pos `json:"-"`
}

// MarshalJSON flattens Pos into the object, which is the documented schema:
// {"file","line","column","end_line","end_column","severity","code",
// "message","detail","snippet"}. end_line, end_column and snippet came
// after the first version of schema 1 and are left out when unknown.
func (d Diagnostic) MarshalJSON() ([]byte, error) {
	type flat struct {
		File      string   `json:"file"`
		Line      int      `json:"line"`
		Column    int      `json:"column"`
		EndLine   int      `json:"end_line,omitempty"`
		EndColumn int      `json:"end_column,omitempty"`
		Severity  Severity `json:"severity"`
		Code      string   `json:"code"`
		Message   string   `json:"message"`
		Detail    string   `json:"detail,omitempty"`
		Snippet   *Snippet `json:"snippet,omitempty"`
		Repeats   int      `json:"repeats,omitempty"`
		Last      string   `json:"last,omitempty"`
	}
	last := ""
	if d.Last != nil {
		last = d.Last.String()
	}
	// Not HTML-escaped: a person reads "<stdin>" better than "\u003cstdin\u003e".
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(flat{d.Pos.File, d.Pos.Line, d.Pos.Column, d.End.Line, d.End.Column,
		d.Severity, d.Code, d.Message, d.Detail, d.Snippet, d.Repeats, last})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// endOf converts the end of an HCL range; zero when the range has none.
func endOf(r hcl.Range) Pos {
	if r.End.Line == 0 {
		return Pos{}
	}
	return Pos{File: r.Filename, Line: r.End.Line, Column: r.End.Column}
}

// String is the compiler-style form: "file:line:col: error: message (detail)".
func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
	if d.Detail != "" {
		s += "; " + d.Detail
	}
	switch {
	case d.Repeats > 0 && (d.Last == nil || *d.Last == d.Pos):
		s += fmt.Sprintf(" (%d more times here)", d.Repeats)
	case d.Repeats > 0:
		s += fmt.Sprintf(" (and %d more like it, the last at %s)", d.Repeats, d.Last)
	}
	return s
}

// Diagnostics is a list of problems, in the order they were found.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, line and column, keeping the order of
// diagnostics at the same place.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Error implements error so a Diagnostics can be returned where an error is
// expected; it lists the errors one per line.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds.Errors() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Add appends a diagnostic at pos, its message formatted from format and
// args, with a detail ("" for none). Errorf and Warnf are Add for a range
// in an HCL, JSON or YAML file; the legacy reader, which has positions of
// its own, calls Add.
func (ds *Diagnostics) Add(pos Pos, sev Severity, code, detail, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...), Detail: detail})
}

// addRange is Add for an HCL range, which also knows where it ends.
func (ds *Diagnostics) addRange(r hcl.Range, sev Severity, code, detail, format string, args ...any) {
	ds.Add(PosOf(r), sev, code, detail, format, args...)
	(*ds)[len(*ds)-1].End = endOf(r)
}

// Errorf appends an error at r, with a detail ("" for none).
func (ds *Diagnostics) Errorf(r hcl.Range, code, detail, format string, args ...any) {
	ds.addRange(r, Error, code, detail, format, args...)
}

// Warnf appends a warning at r, with a detail ("" for none).
func (ds *Diagnostics) Warnf(r hcl.Range, code, detail, format string, args ...any) {
	ds.addRange(r, Warning, code, detail, format, args...)
}

// FromHCL converts HCL's own diagnostics (syntax errors, unknown arguments,
// expression errors) into ours. HCL has no codes, so they are derived from
// the summary, which HCL keeps stable.
func FromHCL(hds hcl.Diagnostics) Diagnostics {
	var out Diagnostics
	for _, h := range hds {
		d := Diagnostic{Severity: Error, Message: h.Summary, Detail: h.Detail}
		if h.Severity == hcl.DiagWarning {
			d.Severity = Warning
		}
		if h.Subject != nil {
			d.Pos, d.End = PosOf(*h.Subject), endOf(*h.Subject)
		}
		if h.Summary == "Extraneous JSON object property" {
			// HCL's JSON parser words an unknown key differently from the
			// native one; say it the same way in every syntax.
			h.Summary = "Unsupported argument"
		}
		if name, declared, ok := undeclaredReference(h); ok {
			d.Code = "variable"
			d.Message = fmt.Sprintf("undeclared variable %q", name)
			d.Detail = undeclaredDetail(name, declared)
			out = append(out, d)
			continue
		}
		d.Code = hclCode(h.Summary)
		if isTemplateLimit(h) {
			d.Code = "template-limit"
		}
		d.Message = strings.TrimSuffix(lowerFirst(h.Summary), ".")
		d.Detail = strings.TrimSuffix(h.Detail, ".")
		out = append(out, d)
	}
	return out
}

func hclCode(summary string) string {
	switch {
	case strings.HasPrefix(summary, "Unsupported argument"):
		return "unknown-attribute"
	case strings.HasPrefix(summary, "Unsupported block type"):
		return "unknown-block"
	case strings.HasPrefix(summary, "Missing required argument"):
		return "missing-attribute"
	case strings.HasPrefix(summary, "Duplicate"):
		return "duplicate"
	case strings.HasPrefix(summary, "Incorrect attribute value type"), strings.HasPrefix(summary, "Unsuitable value type"):
		return "type"
	case strings.Contains(summary, "variable"), strings.HasPrefix(summary, "Unsupported attribute"):
		return "variable"
	case strings.Contains(summary, "function"), strings.HasPrefix(summary, "Error in function call"):
		return "function"
	}
	return "syntax"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	// Keep acronyms such as "HCL" or "JSON" intact.
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Supersede joins the diagnostics of two stages of reading one file, where
// the later stage (a converter, validation) says more specifically what it
// did about something the earlier one (a parser) saw: an earlier warning at
// a position where the later stage also warns is dropped. Each stage's own
// diagnostics are all kept, and errors always are.
func Supersede(earlier, later Diagnostics) Diagnostics {
	warned := map[Pos]bool{}
	for _, d := range later {
		if d.Severity == Warning {
			warned[d.Pos] = true
		}
	}
	out := make(Diagnostics, 0, len(earlier)+len(later))
	for _, d := range earlier {
		if d.Severity == Warning && warned[d.Pos] {
			continue
		}
		out = append(out, d)
	}
	return append(out, later...)
}

// MaxDiagnostics is how many diagnostics are shown for one file, after
// Fold: a file that is wrong in a million places needs its first hundred
// fixed, not a million lines of output.
const MaxDiagnostics = 100

// foldSimilarAfter is how many warnings differing only in their numbers
// are each shown before Fold folds them into one.
const foldSimilarAfter = 10

// Fold prepares diagnostics for showing: a warning repeated with the same
// code and the same message (numbers aside when there are more than
// foldSimilarAfter, so "the value of line 7 is discarded" and "... line 8
// ..." are one warning) is shown once, at its
// first position, with Repeats saying how many more there were and Last
// where the last one is; then at most max are kept, errors before
// warnings, in their order, and a last diagnostic (code "truncated") says
// how many were left out. Errors are folded only when one place has the
// same error several times (a loop evaluating a failing call): each other
// error is a place to fix.
// Fold leaves ds unchanged; judge validity on ds, not on what Fold returns.
func (ds Diagnostics) Fold(max int) Diagnostics {
	type key struct {
		sev       Severity
		pos       Pos // errors: only the same error at the same place folds
		code, msg string
	}
	// Warnings that differ only in numbers fold when there are many: two
	// links "fw1" and "fw2" without their interface are two lines to read,
	// 70,000 "line N is discarded" are one.
	loose := make([]string, len(ds))
	similar := map[key]int{}
	for i, d := range ds {
		if d.Severity == Warning {
			loose[i] = withoutDigits(d.Message)
			similar[key{Warning, Pos{}, d.Code, loose[i]}]++
		}
	}
	first := map[key]int{} // index in out
	out := make(Diagnostics, 0, min(len(ds), 2*max))
	for i, d := range ds {
		k := key{d.Severity, d.Pos, d.Code, d.Message}
		if d.Severity == Warning {
			k = key{Warning, Pos{}, d.Code, d.Message}
			if lk := (key{Warning, Pos{}, d.Code, loose[i]}); similar[lk] > foldSimilarAfter {
				k = lk
			}
		}
		if i, ok := first[k]; ok {
			out[i].Repeats++
			p := d.Pos
			out[i].Last = &p
			continue
		}
		first[k] = len(out)
		out = append(out, d)
	}
	if len(out) <= max {
		return out
	}
	errs := 0
	for _, d := range out {
		if d.Severity == Error {
			errs++
		}
	}
	keepWarnings := max - min(errs, max)
	kept := make(Diagnostics, 0, max+1)
	var leftErrs, leftWarns, shownErrs int
	var file string
	for _, d := range out {
		file = d.Pos.File
		switch {
		case d.Severity == Error && shownErrs < max:
			shownErrs++
			kept = append(kept, d)
		case d.Severity == Warning && keepWarnings > 0:
			keepWarnings--
			kept = append(kept, d)
		case d.Severity == Error:
			leftErrs++
		default:
			leftWarns++
		}
	}
	sev := Warning
	if leftErrs > 0 {
		sev = Error
	}
	return append(kept, Diagnostic{Pos: Pos{File: file}, Severity: sev, Code: "truncated",
		Message: fmt.Sprintf("%d more diagnostics not shown (%d errors, %d warnings)", leftErrs+leftWarns, leftErrs, leftWarns),
		Detail:  fmt.Sprintf("at most %d are shown per file; fix these first", max)})
}

// withoutDigits replaces each run of digits with '#'.
func withoutDigits(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	var b strings.Builder
	digits := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteByte(c)
	}
	return b.String()
}
