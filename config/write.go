package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// The writers turn a File back into text: WriteHCL and WriteYAML for ctsync's
// own syntaxes (the output of `ctsync fmt` and `ctsync migrate`). They walk
// the syntax structs by reflection with the same tags as the decoder, so a
// field added to syntax.go is written without touching this file. The output
// is canonical: the same File and Comments always give the same bytes.
//
// Comments are attached to items by model path. The grammar of a path:
//
//	path    = "" | segment { "." segment }
//	segment = name [ "[" label [ "#" n ] "]" ]   (a block)
//	        | name [ "[" index "]" ]              (an attribute, or one element of a list attribute)
//
// name is the block or attribute name as written in HCL ("link", "port").
// A labeled block carries its label in brackets: "link[primary]",
// "sync[ftfw].resend_queue_size", "filter.stage[address]". When several
// sibling blocks of one type share a label, the second and later ones are
// told apart by their 1-based occurrence: "cache[internal]" is the first
// internal cache, "cache[internal#2]" the second. The labels of a block
// with several are joined by ",": "helpers.helper[rpc,inet,udp]". An index (0-based) after a
// list attribute names one element: "filter.stage[address].ignore[3]" is the
// fourth address; its Line comment is written after that element, which
// forces the list onto one element per line. The empty path is the file
// header. Build paths with Path, Block, BlockN and Elem rather than by hand.
// Keys that name nothing in the File are ignored; CommentPaths lists the
// paths a File offers.

// Comment is the comment attached to one item.
type Comment struct {
	// Lead holds the comment lines written above the item, without the
	// comment marker ("virtual IP", not "# virtual IP").
	Lead []string
	// Line is written after the item, on its line.
	Line string
	// Foot holds comment lines written after everything else: for the file
	// (path ""), at its end; for a block, inside it after its last item
	// (the notes an operator left before a closing brace); for an
	// attribute, on the lines after it.
	Foot []string
}

// Comments maps model paths (see the grammar above) to comments.
type Comments map[string]Comment

// Path joins path segments with ".": Path("link[a]", "port") is "link[a].port".
func Path(segments ...string) string {
	var parts []string
	for _, s := range segments {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ".")
}

// Block is the segment of a labeled block: Block("link", "primary") is
// "link[primary]".
func Block(name, label string) string { return name + "[" + label + "]" }

// BlockN is the segment of the n-th (1-based) sibling block of type name
// with this label; n of 1 (or less) is the same as Block.
func BlockN(name, label string, n int) string {
	if n <= 1 {
		return Block(name, label)
	}
	return name + "[" + label + "#" + strconv.Itoa(n) + "]"
}

// Elem is the segment of element i (0-based) of list attribute name:
// Elem("ignore", 3) is "ignore[3]".
func Elem(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

// FormatHCL normalises the layout of HCL source (indentation, alignment of
// "="), keeping its comments and order; it is what `ctsync fmt` applies to
// files it does not rewrite.
func FormatHCL(src []byte) []byte { return hclwrite.Format(src) }

// maxListWidth is the longest "name = [ ... ]" line, indentation included,
// written on one line.
const maxListWidth = 80

// WriteHCL writes f in canonical HCL native syntax, with comments c (nil for
// none). Variables are not written: they belong to templates, and a File
// that has been through evaluation no longer needs them.
func WriteHCL(w io.Writer, f *File, c Comments) error {
	if f == nil {
		return fmt.Errorf("write hcl: no configuration")
	}
	hw := &hclWriter{c: c}
	if h, ok := c[""]; ok && len(h.Lead) > 0 {
		hw.comments(commentLines(h.Lead), 0)
		hw.b.WriteByte('\n')
	}
	hw.body(reflect.ValueOf(f).Elem(), "", 0, true)
	if h, ok := c[""]; ok && len(h.Foot) > 0 {
		hw.b.WriteByte('\n')
		hw.comments(commentLines(h.Foot), 0)
	}
	out := hclwrite.Format(hw.b.Bytes())
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write hcl: %w", err)
	}
	return nil
}

type hclWriter struct {
	b bytes.Buffer
	c Comments
}

func (hw *hclWriter) indent(level int) {
	hw.b.WriteString(strings.Repeat("  ", level))
}

func (hw *hclWriter) comments(lines []string, level int) {
	for _, l := range lines {
		hw.indent(level)
		hw.b.WriteString(commentText(l))
		hw.b.WriteByte('\n')
	}
}

// lineComment ends the current line, with c's Line comment if any.
func (hw *hclWriter) lineComment(c Comment) {
	if l := oneLine(c.Line); l != "" {
		hw.b.WriteByte(' ')
		hw.b.WriteString(commentText(l))
	}
	hw.b.WriteByte('\n')
}

// body writes the attributes and nested blocks of struct v, whose path is
// path. Top-level blocks are separated by blank lines; inside a block a
// blank line separates attributes from the blocks that follow them.
func (hw *hclWriter) body(v reflect.Value, path string, level int, top bool) {
	wrote := false // something was written in this body
	lastWasAttr := false
	for _, it := range walkItems(v, path) {
		switch it.kind {
		case itemAttr:
			c := hw.c[it.path]
			hw.comments(commentLines(c.Lead), level)
			hw.attr(it, level, c)
			hw.comments(commentLines(c.Foot), level)
			wrote, lastWasAttr = true, true
		case itemBlock:
			if (top && wrote) || (!top && lastWasAttr) {
				hw.b.WriteByte('\n')
			}
			c := hw.c[it.path]
			hw.comments(commentLines(c.Lead), level)
			hw.indent(level)
			hw.b.WriteString(it.name)
			for _, l := range it.labels {
				hw.b.WriteByte(' ')
				hw.b.Write(hclString(l))
			}
			inner := walkItems(it.value, it.path)
			if len(inner) == 0 && oneLine(c.Line) == "" && len(c.Foot) == 0 {
				hw.b.WriteString(" {}\n")
			} else {
				hw.b.WriteString(" {")
				hw.lineComment(c)
				hw.body(it.value, it.path, level+1, false)
				hw.comments(commentLines(c.Foot), level+1)
				hw.indent(level)
				hw.b.WriteString("}\n")
			}
			wrote, lastWasAttr = true, false
		}
	}
}

func (hw *hclWriter) attr(it item, level int, c Comment) {
	hw.indent(level)
	hw.b.WriteString(it.name)
	hw.b.WriteString(" = ")
	v := it.value
	if v.Kind() == reflect.Ptr {
		v = v.Elem()
	}
	switch {
	case it.bytes:
		hw.b.WriteString(v.String())
		hw.lineComment(c)
		return
	case v.Kind() != reflect.Slice:
		hw.b.Write(hclScalar(v))
		hw.lineComment(c)
		return
	}
	elems := make([][]byte, v.Len())
	commented := false
	width := 2*level + len(it.name) + len(" = []")
	for i := range elems {
		elems[i] = hclScalar(v.Index(i))
		width += len(elems[i]) + len(", ")
		ec := hw.c[Path(it.parent, Elem(it.name, i))]
		if len(ec.Lead) > 0 || oneLine(ec.Line) != "" {
			commented = true
		}
	}
	if !commented && width <= maxListWidth+2 {
		hw.b.WriteByte('[')
		hw.b.Write(bytes.Join(elems, []byte(", ")))
		hw.b.WriteByte(']')
		hw.lineComment(c)
		return
	}
	hw.b.WriteByte('[')
	hw.lineComment(c)
	for i, e := range elems {
		ec := hw.c[Path(it.parent, Elem(it.name, i))]
		hw.comments(commentLines(ec.Lead), level+1)
		hw.indent(level + 1)
		hw.b.Write(e)
		hw.b.WriteByte(',')
		hw.lineComment(ec)
	}
	hw.indent(level)
	hw.b.WriteString("]\n")
}

func hclScalar(v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.String:
		return hclString(v.String())
	case reflect.Bool:
		return []byte(strconv.FormatBool(v.Bool()))
	case reflect.Int64:
		return []byte(strconv.FormatInt(v.Int(), 10))
	}
	panic(fmt.Sprintf("config: cannot write a %s", v.Type()))
}

// hclString quotes s; hclwrite escapes quotes, control characters and the
// template introducers "${" and "%{" (as "$${" and "%%{").
func hclString(s string) []byte {
	return hclwrite.TokensForValue(cty.StringVal(s)).Bytes()
}

type itemKind int

const (
	itemAttr itemKind = iota
	itemBlock
)

// item is one attribute or block of a body, in emit order.
type item struct {
	kind   itemKind
	name   string
	path   string
	parent string // path of the enclosing block
	labels []string
	// value is the attribute's value (pointer or not) or the block's struct.
	value reflect.Value
	// n is the 1-based occurrence of the block's label among its siblings.
	n int
	// labelFields name the label fields of a block ("name", "tier"...).
	labelFields []string
	// bytes is set on a size attribute (tag write:"size") whose value is
	// plain bytes, which writers emit as a number.
	bytes bool
}

// plainBytes reports whether a size attribute's value is written without a
// unit, so that it can go out as a number: "262142", not "0x10" or "2MiB".
func plainBytes(field reflect.StructField, v reflect.Value) bool {
	if field.Tag.Get("write") != "size" || v.Kind() != reflect.Ptr || v.Elem().Kind() != reflect.String {
		return false
	}
	s := v.Elem().String()
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// walkItems lists what a writer emits for struct v: set attributes and
// present blocks, in field order, with their paths. It is shared by the
// HCL and YAML writers and CommentPaths, so that all agree on paths.
func walkItems(v reflect.Value, path string) []item {
	var out []item
	t := v.Type()
	for _, f := range fieldsOf(t) {
		fv := v.Field(f.index)
		switch f.kind {
		case "attr":
			if fv.Type() == exprType {
				continue
			}
			if (fv.Kind() == reflect.Ptr || fv.Kind() == reflect.Slice) && fv.IsNil() {
				continue
			}
			out = append(out, item{kind: itemAttr, name: f.name, path: Path(path, f.name), parent: path, value: fv,
				bytes: plainBytes(t.Field(f.index), fv)})
		case "block":
			if t.Field(f.index).Name == "Variables" {
				continue
			}
			switch fv.Kind() {
			case reflect.Ptr:
				if fv.IsNil() {
					continue
				}
				out = append(out, blockItem(f.name, path, fv.Elem(), 1))
			case reflect.Slice:
				seen := map[string]int{}
				for i := 0; i < fv.Len(); i++ {
					bv := fv.Index(i)
					key := strings.Join(labelsOf(bv), "\x00")
					seen[key]++
					out = append(out, blockItem(f.name, path, bv, seen[key]))
				}
			}
		}
	}
	return out
}

func blockItem(name, parent string, bv reflect.Value, n int) item {
	labels := labelsOf(bv)
	seg := name
	if len(labels) > 0 {
		seg = BlockN(name, strings.Join(labels, ","), n)
	}
	it := item{kind: itemBlock, name: name, path: Path(parent, seg), parent: parent, labels: labels, value: bv, n: n}
	for _, lf := range fieldsOf(bv.Type()) {
		if lf.kind == "label" {
			it.labelFields = append(it.labelFields, lf.name)
		}
	}
	return it
}

func labelsOf(v reflect.Value) []string {
	var out []string
	for _, f := range fieldsOf(v.Type()) {
		if f.kind == "label" {
			out = append(out, v.Field(f.index).String())
		}
	}
	return out
}

// Place is a path CommentPaths offers and the line its item was read
// from (0 when the model does not know).
type Place struct {
	Path string
	Line int
}

// Places lists every path the writers look up in Comments for f, except
// the header, with their source lines, in emit order. migrate uses it to attach a comment
// that belongs to no item to the item that follows it in the source.
func Places(f *File) []Place {
	var out []Place
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		node := Node{}
		if n := nodeOf(v); n != nil {
			node = *n
		}
		for _, it := range walkItems(v, path) {
			switch it.kind {
			case itemBlock:
				line := 0
				if n := nodeOf(it.value); n != nil {
					line = n.DefRange.Start.Line
				}
				at := len(out)
				out = append(out, Place{it.path, line})
				walk(it.value, it.path)
				// A block made of several legacy sections (daemon from
				// General) has no header line: it starts at its first item.
				for _, p := range out[at+1:] {
					if line == 0 || p.Line != 0 && p.Line < line {
						line = p.Line
					}
				}
				out[at].Line = line
			case itemAttr:
				out = append(out, Place{it.path, node.Attrs[it.name].Start.Line})
				if it.value.Kind() == reflect.Slice {
					for i := 0; i < it.value.Len(); i++ {
						el := Elem(it.name, i)
						out = append(out, Place{Path(it.parent, el), node.Attrs[el].Start.Line})
					}
				}
			}
		}
	}
	walk(reflect.ValueOf(f).Elem(), "")
	return out
}

// CommentPaths lists, in emit order, every path the writers look up in
// Comments for f: the header "", each block and attribute, and each element
// of list attributes (the paths of Places). Callers that build Comments
// (migrate) use it to find comments that would be lost.
func CommentPaths(f *File) []string {
	out := []string{""}
	if f == nil {
		return out
	}
	for _, p := range Places(f) {
		out = append(out, p.Path)
	}
	return out
}

// commentLines splits lead lines that contain newlines.
func commentLines(lead []string) []string {
	var out []string
	for _, l := range lead {
		l = strings.ReplaceAll(l, "\r\n", "\n")
		out = append(out, strings.Split(l, "\n")...)
	}
	return out
}

// lineBreaks is built once: building a Replacer per comment line cost more
// than writing the line.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

func oneLine(s string) string {
	s = lineBreaks.Replace(s)
	return strings.TrimSpace(s)
}

func commentText(l string) string {
	l = strings.TrimRight(oneLine(l), " \t")
	if l == "" {
		return "#"
	}
	return "# " + l
}
