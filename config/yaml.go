package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// The YAML front end presents a YAML document as an hcl.Body, so that YAML
// goes through the same decoder (decode.go) as HCL and gets the same checks
// and messages. How YAML maps onto the configuration model:
//
//   - The document is one mapping (an empty document is an empty
//     configuration). A second document ("---") in the same file is an error.
//
//   - A key that names an attribute has the attribute's value: a scalar, a
//     list (sequence) or a mapping. Scalars follow the YAML 1.2 core schema:
//     true/false are booleans, but yes/no/on/off are strings, so "systemd: on"
//     is reported as "a boolean (true or false) is required"; integers are
//     decimal (012 is twelve), 0o17, 0x1f or 0b101, with optional "_"
//     separators; floats are numbers; ~, null and an empty value are null
//     (the same as not writing the key); anything else is a string.
//     !!str forces a string ("port: !!str 80"); other explicit tags than the
//     standard ones are refused.
//
//   - A key that names a block without label (daemon, log, filter, ...) has a
//     mapping of the block's settings, or nothing ("stats:" is an empty stats
//     block), or a list of such mappings for several blocks.
//
//   - A key that names a labeled block (link, cache, sync, stage, helper,
//     policy, variable) has either
//     a mapping keyed by the label, one level per label, in block order:
//     link: {primary: {transport: udp}, backup: {...}};
//     or a list of mappings that carry the label as a key named after it
//     (link and helper and policy and variable: name, cache: tier,
//     sync: mode, stage: kind): link: [{name: primary, transport: udp}].
//     A block with several labels (helper: name, family, protocol) has one
//     level per label when keyed (helper: {rpc: {inet: {udp: {}}}}) and one
//     key per label in the list form; keyed, the labels after the first
//     may also be keys (helper: {ftp: {family: inet, protocol: tcp}}). A single mapping with the label key
//     set to a string is one block of the list form: sync: {mode: ftfw}.
//
//   - Anchors and aliases work as in YAML: an alias stands for the anchored
//     node. Merge keys ("<<") are not supported. A key may appear only once
//     in a mapping.
//
// Variables, functions and templates are HCL features: YAML values are
// literal.

// ParseYAML parses a YAML configuration into an hcl.Body for decodeBody.
// Structural problems (syntax, duplicate keys, unsupported tags, several
// documents) are reported here; the body is nil when the source does not
// parse at all.
func ParseYAML(filename string, src []byte) (hcl.Body, Diagnostics) {
	f := newYAMLFile(filename, src)
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		// Empty, or only comments.
		return &yamlBody{f: f, missing: f.rangeAt(1, 1)}, nil
	}
	if err != nil {
		return nil, FromHCL(hcl.Diagnostics{f.syntaxError(err)})
	}
	var second yaml.Node
	if err := dec.Decode(&second); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, FromHCL(hcl.Diagnostics{f.syntaxError(err)})
		}
		return nil, FromHCL(hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Multiple YAML documents in one file",
			Detail:   "A configuration is a single YAML document; remove this \"---\" and what follows, or put it in its own file.",
			Subject:  f.rng(&second).Ptr(),
		}})
	}

	if r := yamlTooDeep(&doc); r != nil {
		return nil, tooDeep(f.rng(r))
	}
	var hds hcl.Diagnostics
	f.check(&doc, map[*yaml.Node]bool{}, &hds)
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	body := &yamlBody{f: f, missing: f.rangeAt(1, 1)}
	switch {
	case root == nil || isNull(root):
	case root.Kind == yaml.MappingNode:
		body.m = root
		body.missing = f.rng(root)
	default:
		hds = append(hds, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsuitable value type for the configuration",
			Detail:   fmt.Sprintf("A configuration is a YAML mapping of settings (daemon:, sync:, link:, ...); got %s.", describe(root)),
			Subject:  f.rng(root).Ptr(),
		})
		return nil, FromHCL(hds)
	}
	return body, FromHCL(hds)
}

// yamlFile holds what positions need: yaml.v3 gives 1-based lines and
// columns counted in characters; Pos wants columns in bytes, and hcl.Pos
// a byte offset.
type yamlFile struct {
	name  string
	src   []byte
	lines []int // byte offset of the start of each line
	// dup marks keys that repeat an earlier key of their mapping; they are
	// reported once by check and otherwise ignored.
	dup map[*yaml.Node]bool
	// memo is the last position pos converted.
	memo posMemo
}

type posMemo struct{ line, col, off, start int }

func newYAMLFile(name string, src []byte) *yamlFile {
	f := &yamlFile{name: name, src: src, lines: []int{0}, dup: map[*yaml.Node]bool{}}
	// Line breaks as yaml.v3 counts them: \n, \r\n, \r, NEL, LS, PS.
	for i := 0; i < len(src); i++ {
		switch {
		case src[i] == '\n':
			f.lines = append(f.lines, i+1)
		case src[i] == '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			f.lines = append(f.lines, i+1)
		case src[i] == 0xC2 && i+1 < len(src) && src[i+1] == 0x85:
			i++
			f.lines = append(f.lines, i+1)
		case src[i] == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
			i += 2
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

// pos converts a yaml.v3 line and character column.
func (f *yamlFile) pos(line, col int) hcl.Pos {
	if line < 1 {
		line = 1
	}
	if line > len(f.lines) {
		line = len(f.lines)
	}
	if col < 1 {
		col = 1
	}
	start := f.lines[line-1]
	end := len(f.src)
	if line < len(f.lines) {
		end = f.lines[line]
	}
	off := start
	if line == 1 && bytes.HasPrefix(f.src, []byte("\ufeff")) {
		// yaml.v3 does not count the byte order mark; neither do editors.
		off += 3
		start += 3
	}
	c := 1
	// Positions are asked for mostly left to right: resume from the last
	// one on this line, so that a flow list of 40,000 entries on one line
	// costs one pass over it, not one per entry (12 s).
	if m := f.memo; m.line == line && m.col <= col && m.start == start {
		c, off = m.col, m.off
	}
	for ; c < col && off < end; c++ {
		_, size := utf8.DecodeRune(f.src[off:end])
		off += size
	}
	f.memo = posMemo{line: line, col: c, off: off, start: start}
	return hcl.Pos{Line: line, Column: off - start + 1, Byte: off}
}

func (f *yamlFile) rangeAt(line, col int) hcl.Range {
	p := f.pos(line, col)
	return hcl.Range{Filename: f.name, Start: p, End: p}
}

// rng is where node n starts; for a one-line plain scalar it also ends
// where the scalar does.
func (f *yamlFile) rng(n *yaml.Node) hcl.Range {
	r := f.rangeAt(n.Line, n.Column)
	if n.Kind == yaml.ScalarNode && n.Style == 0 && !strings.ContainsAny(n.Value, "\r\n") {
		end := r.Start.Byte + len(n.Value)
		if end <= len(f.src) && string(f.src[r.Start.Byte:end]) == n.Value {
			r.End = hcl.Pos{Line: r.Start.Line, Column: r.Start.Column + len(n.Value), Byte: end}
		}
	}
	return r
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError converts a yaml.v3 parse error, whose only location is the
// line in its text (or none), into a located diagnostic.
func (f *yamlFile) syntaxError(err error) *hcl.Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var r hcl.Range
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg = m[2]
		if yamlParserProblem(msg) {
			// yaml.v3 counts from 1 for scanner errors but from 0 for
			// parser errors.
			line++
		}
		if msg == "did not find expected key" || msg == "did not find expected '-' indicator" {
			// yaml.v3 names the line where the enclosing mapping starts;
			// the mistake is usually a misindented line further down.
			if bad := f.misindented(line); bad > 0 {
				line = bad
				msg = "this line's indentation matches no enclosing block (" + msg + ")"
			}
		}
		r = f.rangeAt(line, f.firstColumn(line))
	} else {
		r = f.guessErrorRange(msg)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid YAML: " + msg,
		Subject:  r.Ptr(),
	}
}

// misindented returns the first line at or after from whose indentation
// matches none of the blocks it could belong to: after returning from a
// deeper block it lands between two levels. 0 when there is none. Blank
// and comment lines and the contents of block scalars (| and >) are
// skipped; a "- " item opens a level for its content.
func (f *yamlFile) misindented(from int) int {
	var stack []int
	scalarIndent := -1 // inside a block scalar started at this indent
	for i := range f.lines {
		start := f.lines[i]
		end := len(f.src)
		if i+1 < len(f.lines) {
			end = f.lines[i+1]
		}
		text := strings.TrimRight(string(f.src[start:end]), "\r\n")
		body := strings.TrimLeft(text, " ")
		indent := len(text) - len(body)
		if body == "" || strings.HasPrefix(body, "#") {
			continue
		}
		if scalarIndent >= 0 {
			if indent > scalarIndent {
				continue
			}
			scalarIndent = -1
		}
		popped := false
		for len(stack) > 0 && stack[len(stack)-1] > indent {
			stack = stack[:len(stack)-1]
			popped = true
		}
		if popped && len(stack) > 0 && stack[len(stack)-1] < indent && i+1 >= from {
			return i + 1
		}
		if len(stack) == 0 || stack[len(stack)-1] < indent {
			stack = append(stack, indent)
		}
		if strings.HasPrefix(body, "- ") {
			stack = append(stack, indent+2)
		}
		if t := strings.TrimRight(body, " "); strings.HasSuffix(t, "|") || strings.HasSuffix(t, ">") ||
			strings.HasSuffix(t, "|-") || strings.HasSuffix(t, ">-") || strings.HasSuffix(t, "|+") || strings.HasSuffix(t, ">+") {
			scalarIndent = indent
		}
	}
	return 0
}

// yamlParserProblem tells the problems of yaml.v3's parser (parserc.go)
// from those of its scanner.
func yamlParserProblem(msg string) bool {
	switch msg {
	case "did not find expected <stream-start>", "did not find expected <document start>",
		"found undefined tag handle", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"found duplicate %YAML directive", "found incompatible YAML document", "found duplicate %TAG directive":
		return true
	}
	return false
}

// firstColumn is the character column of the first non-blank on line, so
// that an error on an indented line points at its text.
func (f *yamlFile) firstColumn(line int) int {
	if line < 1 || line > len(f.lines) {
		return 1
	}
	col := 1
	for i := f.lines[line-1]; i < len(f.src) && (f.src[i] == ' ' || f.src[i] == '\t'); i++ {
		col++
	}
	return col
}

var yamlErrAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// guessErrorRange finds what an error without a line number is about.
func (f *yamlFile) guessErrorRange(msg string) hcl.Range {
	off := -1
	switch {
	case yamlErrAnchor.MatchString(msg):
		off = bytes.Index(f.src, []byte("*"+yamlErrAnchor.FindStringSubmatch(msg)[1]))
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "UTF-16"), strings.Contains(msg, "control characters"):
		for i := 0; i < len(f.src); {
			r, size := utf8.DecodeRune(f.src[i:])
			if r == utf8.RuneError && size <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
				off = i
				break
			}
			i += size
		}
	}
	if off < 0 {
		return f.rangeAt(1, 1)
	}
	line := 1
	for line < len(f.lines) && f.lines[line] <= off {
		line++
	}
	p := hcl.Pos{Line: line, Column: off - f.lines[line-1] + 1, Byte: off}
	return hcl.Range{Filename: f.name, Start: p, End: p}
}

// check reports, once for the whole document, what no schema can accept:
// repeated keys, keys that are not scalars, merge keys and foreign tags.
func (f *yamlFile) check(n *yaml.Node, seen map[*yaml.Node]bool, diags *hcl.Diagnostics) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	bad := func(n *yaml.Node, summary, detail string) {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: f.rng(n).Ptr()})
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			f.check(c, seen, diags)
		}
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!null", "!!bool", "!!int", "!!float", "!!str", "!!timestamp", "!!binary", "!!merge":
		default:
			bad(n, fmt.Sprintf("Unsupported YAML tag %q", tag), "Only the standard tags (!!str, !!int, !!float, !!bool, !!null) are understood.")
		}
	case yaml.SequenceNode, yaml.MappingNode:
		want := "!!seq"
		if n.Kind == yaml.MappingNode {
			want = "!!map"
		}
		if tag := n.ShortTag(); tag != want {
			bad(n, fmt.Sprintf("Unsupported YAML tag %q", tag), "Only the standard tags (!!str, !!int, !!float, !!bool, !!null) are understood.")
		}
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				f.check(c, seen, diags)
			}
			return
		}
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			rk := resolve(k)
			switch {
			case rk.Kind != yaml.ScalarNode:
				bad(k, "Invalid YAML key", fmt.Sprintf("A key is a name; got %s.", describe(rk)))
			case rk.ShortTag() == "!!merge":
				bad(k, "Unsupported YAML merge key \"<<\"", "Write the settings out, or use an alias (*name) for a whole value.")
			case first[rk.Value] != nil:
				f.dup[k] = true
				bad(k, fmt.Sprintf("Duplicate key %q", rk.Value),
					fmt.Sprintf("It was already set at %s; a key may appear only once in a mapping.", PosOf(f.rng(first[rk.Value]))))
			default:
				first[rk.Value] = k
			}
			if k.Kind != yaml.AliasNode {
				f.check(k, seen, diags)
			}
			f.check(v, seen, diags)
		}
	}
}

// resolve follows an alias to its anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe says what a node is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	}
	return "an alias"
}

type yamlPair struct {
	name     string
	key, val *yaml.Node
}

// pairs lists the usable entries of mapping m, in order.
func (f *yamlFile) pairs(m *yaml.Node) []yamlPair {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out []yamlPair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if f.dup[m.Content[i]] || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			continue
		}
		out = append(out, yamlPair{name: k.Value, key: m.Content[i], val: m.Content[i+1]})
	}
	return out
}

// yamlBody is a mapping read as an HCL body.
type yamlBody struct {
	f *yamlFile
	m *yaml.Node // a mapping, or nil for an empty body
	// missing is where "missing required argument" points: the block's
	// header (its key or list item), or the document.
	missing hcl.Range
	hidden  map[string]bool
}

var _ hcl.Body = (*yamlBody)(nil)

func (b *yamlBody) visible() []yamlPair {
	var out []yamlPair
	for _, p := range b.f.pairs(b.m) {
		if !b.hidden[p.name] {
			out = append(out, p)
		}
	}
	return out
}

func (b *yamlBody) MissingItemRange() hcl.Range { return b.missing }

func (b *yamlBody) attribute(p yamlPair) *hcl.Attribute {
	kr := b.f.rng(p.key)
	return &hcl.Attribute{
		Name:      p.name,
		Expr:      &yamlExpr{f: b.f, n: p.val, key: p.key},
		Range:     hcl.RangeBetween(kr, b.f.rng(p.val)),
		NameRange: kr,
	}
}

func (b *yamlBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	attrs := hcl.Attributes{}
	for _, p := range b.visible() {
		attrs[p.name] = b.attribute(p)
	}
	return attrs, nil
}

func (b *yamlBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	content := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: b.missing}
	attrs := map[string]bool{}
	for _, a := range schema.Attributes {
		attrs[a.Name] = true
	}
	blocks := map[string]hcl.BlockHeaderSchema{}
	for _, bs := range schema.Blocks {
		blocks[bs.Type] = bs
	}
	for _, p := range b.visible() {
		if attrs[p.name] {
			content.Attributes[p.name] = b.attribute(p)
		} else if bs, ok := blocks[p.name]; ok {
			bl, ds := b.blocks(bs, p)
			content.Blocks = append(content.Blocks, bl...)
			diags = append(diags, ds...)
		}
	}
	for _, a := range schema.Attributes {
		if _, ok := content.Attributes[a.Name]; a.Required && !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but no definition was found.", a.Name),
				Subject:  b.missing.Ptr(),
			})
		}
	}
	remain := &yamlBody{f: b.f, m: b.m, missing: b.missing, hidden: map[string]bool{}}
	for k := range b.hidden {
		remain.hidden[k] = true
	}
	for k := range attrs {
		remain.hidden[k] = true
	}
	for k := range blocks {
		remain.hidden[k] = true
	}
	return content, remain, diags
}

func (b *yamlBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	content, remain, diags := b.PartialContent(schema)
	var attrNames, blockNames []string
	for _, a := range schema.Attributes {
		if _, defined := content.Attributes[a.Name]; !defined {
			attrNames = append(attrNames, a.Name)
		}
	}
	for _, bs := range schema.Blocks {
		blockNames = append(blockNames, bs.Type)
	}
	for _, p := range remain.(*yamlBody).visible() {
		// YAML does not say whether a key was meant as an argument or a
		// block: a near name decides, else the shape of the value.
		asBlock := false
		suggestion := nameSuggestion(p.name, attrNames)
		if suggestion == "" {
			if suggestion = nameSuggestion(p.name, blockNames); suggestion != "" {
				asBlock = true
			} else {
				v := resolve(p.val)
				asBlock = v.Kind == yaml.MappingNode ||
					v.Kind == yaml.SequenceNode && len(v.Content) > 0 && resolve(v.Content[0]).Kind == yaml.MappingNode
			}
		}
		if suggestion != "" {
			suggestion = fmt.Sprintf(" Did you mean %q?", suggestion)
		}
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected here.%s", p.name, suggestion),
			Subject:  b.f.rng(p.key).Ptr(),
		}
		if asBlock {
			d.Summary = "Unsupported block type"
			d.Detail = fmt.Sprintf("Blocks of type %q are not expected here.%s", p.name, suggestion)
		}
		diags = append(diags, d)
	}
	return content, diags
}

// nameSuggestion is hclsyntax's did-you-mean, so that YAML and HCL suggest
// the same names.
func nameSuggestion(given string, suggestions []string) string {
	for _, s := range suggestions {
		if levenshtein.Distance(given, s, nil) < 3 {
			return s
		}
	}
	return ""
}

// blocks reads the blocks of one type from the value of its key.
func (b *yamlBody) blocks(bs hcl.BlockHeaderSchema, p yamlPair) (hcl.Blocks, hcl.Diagnostics) {
	f := b.f
	v := resolve(p.val)
	typeRange := f.rng(p.key)
	var out hcl.Blocks
	var diags hcl.Diagnostics
	wrong := func(n *yaml.Node) {
		detail := fmt.Sprintf("a %s block is written as a mapping of its settings (%s: {}), or a list of such mappings; got %s.",
			bs.Type, bs.Type, describe(n))
		if len(bs.LabelNames) > 0 {
			keyed, listed := yamlLabelExamples(bs)
			detail = fmt.Sprintf("%s blocks are written as a mapping keyed by %s (%s: %s), or a list of mappings each with %s (%s: %s); got %s.",
				bs.Type, strings.Join(bs.LabelNames, ", then "), bs.Type, keyed, quotedKeys(bs.LabelNames), bs.Type, listed, describe(n))
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unsuitable value type for block %q", bs.Type),
			Detail:   detail,
			Subject:  f.rng(n).Ptr(),
		})
	}
	if len(bs.LabelNames) == 0 {
		one := func(n *yaml.Node, def hcl.Range) {
			if !isNull(n) && resolve(n).Kind != yaml.MappingNode {
				wrong(n)
				return
			}
			body := &yamlBody{f: f, missing: def}
			if !isNull(n) {
				body.m = resolve(n)
			}
			out = append(out, &hcl.Block{Type: bs.Type, Body: body, DefRange: def, TypeRange: typeRange})
		}
		if v.Kind == yaml.SequenceNode {
			for _, item := range v.Content {
				one(item, f.rng(item))
			}
		} else {
			one(v, typeRange)
		}
		return out, diags
	}

	switch {
	case isNull(v):
	case v.Kind == yaml.SequenceNode:
		for _, item := range v.Content {
			if resolve(item).Kind != yaml.MappingNode {
				wrong(item)
				continue
			}
			bl, ds := b.listItem(bs, typeRange, item, nil, nil)
			out = append(out, bl...)
			diags = append(diags, ds...)
		}
	case v.Kind == yaml.MappingNode:
		for _, q := range f.pairs(v) {
			if q.name == bs.LabelNames[0] && resolve(q.val).Kind == yaml.ScalarNode && !isNull(q.val) {
				// sync: {mode: ftfw, ...}: one block, list form.
				return b.listItem(bs, typeRange, v, nil, nil)
			}
		}
		return b.byLabel(bs, typeRange, v, nil, nil)
	default:
		wrong(v)
	}
	return out, diags
}

// yamlLabelExample is a value that label l of a block of type typ may
// have, for the examples in messages, which must be valid as written.
func yamlLabelExample(typ, l string) string {
	switch {
	case typ == "sync":
		return "ftfw"
	case typ == "cache":
		return "internal"
	case typ == "stage":
		return "protocol"
	case typ == "variable":
		return "iface"
	case l == "family":
		return "inet"
	case l == "protocol":
		return "tcp"
	case typ == "helper" || typ == "policy":
		return "ftp"
	}
	return "primary"
}

// yamlLabelExamples shows a block of type bs in both forms: keyed by its
// labels ({ftp: {inet: {tcp: {}}}}) and listed ([{name: ftp, ...}]).
func yamlLabelExamples(bs hcl.BlockHeaderSchema) (keyed, listed string) {
	keyed = "{}"
	for i := len(bs.LabelNames) - 1; i >= 0; i-- {
		keyed = fmt.Sprintf("{%s: %s}", yamlLabelExample(bs.Type, bs.LabelNames[i]), keyed)
	}
	return keyed, listExample(bs)
}

func listExample(bs hcl.BlockHeaderSchema) string {
	var kv []string
	for _, l := range bs.LabelNames {
		kv = append(kv, l+": "+yamlLabelExample(bs.Type, l))
	}
	return "[{" + strings.Join(kv, ", ") + "}]"
}

// quotedKeys says which keys a list item needs: a "name" key, or
// "name", "family" and "protocol" keys.
func quotedKeys(keys []string) string {
	if len(keys) == 1 {
		return fmt.Sprintf("a %q key", keys[0])
	}
	return strings.Join(quoteAll(keys[:len(keys)-1]), ", ") + fmt.Sprintf(" and %q keys", keys[len(keys)-1])
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// byLabel reads labeled blocks written as mappings keyed by label, one
// level per label.
func (b *yamlBody) byLabel(bs hcl.BlockHeaderSchema, typeRange hcl.Range, m *yaml.Node, labels []string, ranges []hcl.Range) (hcl.Blocks, hcl.Diagnostics) {
	f := b.f
	var out hcl.Blocks
	var diags hcl.Diagnostics
	for _, q := range f.pairs(m) {
		ls := append(append([]string(nil), labels...), q.name)
		rs := append(append([]hcl.Range(nil), ranges...), f.rng(q.key))
		v := resolve(q.val)
		if !isNull(v) && v.Kind != yaml.MappingNode {
			what := "its settings"
			if len(ls) < len(bs.LabelNames) {
				what = "blocks keyed by " + bs.LabelNames[len(ls)]
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unsuitable value type for block %q", bs.Type),
				Detail:   fmt.Sprintf("%s %q is written as a mapping of %s; got %s.", bs.Type, strings.Join(ls, " "), what, describe(v)),
				Subject:  f.rng(q.val).Ptr(),
			})
			continue
		}
		if len(ls) < len(bs.LabelNames) && hasScalarKey(f, v, bs.LabelNames[len(ls)]) {
			// The rest of the labels as keys: helper: {rpc: {family:
			// inet, protocol: udp, ...}}.
			bl, ds := b.listItem(bs, typeRange, v, ls, rs)
			out = append(out, bl...)
			diags = append(diags, ds...)
			continue
		}
		if len(ls) < len(bs.LabelNames) {
			bl, ds := b.byLabel(bs, typeRange, v, ls, rs)
			out = append(out, bl...)
			diags = append(diags, ds...)
			continue
		}
		body := &yamlBody{f: f, missing: rs[len(rs)-1]}
		if !isNull(v) {
			body.m = v
		}
		out = append(out, &hcl.Block{Type: bs.Type, Labels: ls, Body: body,
			DefRange: rs[len(rs)-1], TypeRange: typeRange, LabelRanges: rs})
	}
	return out, diags
}

// hasScalarKey reports whether mapping m has key name with a string-like
// value: a label written as a key.
func hasScalarKey(f *yamlFile, m *yaml.Node, name string) bool {
	for _, q := range f.pairs(m) {
		if q.name == name && resolve(q.val).Kind == yaml.ScalarNode && !isNull(q.val) {
			return true
		}
	}
	return false
}

// listItem reads one labeled block written as a mapping that carries its
// labels as keys.
func (b *yamlBody) listItem(bs hcl.BlockHeaderSchema, typeRange hcl.Range, item *yaml.Node, labels []string, ranges []hcl.Range) (hcl.Blocks, hcl.Diagnostics) {
	f := b.f
	m := resolve(item)
	def := f.rng(item)
	if len(ranges) > 0 {
		def = ranges[len(ranges)-1]
	}
	var diags hcl.Diagnostics
	body := &yamlBody{f: f, m: m, missing: def, hidden: map[string]bool{}}
	block := &hcl.Block{Type: bs.Type, Body: body, DefRange: def, TypeRange: typeRange,
		Labels: append([]string(nil), labels...), LabelRanges: append([]hcl.Range(nil), ranges...)}
	pairs := f.pairs(m)
	for _, l := range bs.LabelNames[len(labels):] {
		var found *yamlPair
		for i := range pairs {
			if pairs[i].name == l {
				found = &pairs[i]
				break
			}
		}
		switch {
		case found == nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing %s for %s", l, bs.Type),
				Detail:   fmt.Sprintf("in the list form, each %s needs a %q key: %s: %s.", bs.Type, l, bs.Type, listExample(bs)),
				Subject:  def.Ptr(),
			})
		case resolve(found.val).Kind != yaml.ScalarNode || isNull(found.val):
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unsuitable value type for %s %s", bs.Type, l),
				Detail:   fmt.Sprintf("The %s of a %s is a string; got %s.", l, bs.Type, describe(found.val)),
				Subject:  f.rng(found.val).Ptr(),
			})
		default:
			body.hidden[l] = true
			block.Labels = append(block.Labels, resolve(found.val).Value)
			block.LabelRanges = append(block.LabelRanges, f.rng(found.val))
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return hcl.Blocks{block}, nil
}

// yamlExpr is a YAML value read as an HCL expression: a literal.
type yamlExpr struct {
	f   *yamlFile
	n   *yaml.Node
	key *yaml.Node // the key the value belongs to, if any
}

var _ hcl.Expression = (*yamlExpr)(nil)

// maxAliasNodes bounds how many nodes aliases may expand to in one value,
// against "billion laughs" documents.
const maxAliasNodes = 10000

func (e *yamlExpr) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	ev := &yamlEval{f: e.f, active: map[*yaml.Node]bool{}, budget: maxAliasNodes}
	v := ev.value(e.n, false)
	return v, ev.diags
}

func (e *yamlExpr) Variables() []hcl.Traversal { return nil }

func (e *yamlExpr) Range() hcl.Range {
	// An empty value ("port:") has no place of its own; its key has.
	if e.key != nil && e.n.Kind == yaml.ScalarNode && e.n.Value == "" && e.n.Style == 0 && e.n.Tag == "!!null" {
		return e.f.rng(e.key)
	}
	return e.f.rng(e.n)
}

func (e *yamlExpr) StartRange() hcl.Range { return e.Range() }

// ExprList gives the elements of a list, for hcl.ExprList and so for the
// ranges of list elements.
func (e *yamlExpr) ExprList() []hcl.Expression {
	n := resolve(e.n)
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]hcl.Expression, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, &yamlExpr{f: e.f, n: c})
	}
	return out
}

// ExprMap gives the entries of a mapping, for hcl.ExprMap.
func (e *yamlExpr) ExprMap() []hcl.KeyValuePair {
	n := resolve(e.n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []hcl.KeyValuePair
	for _, p := range e.f.pairs(n) {
		out = append(out, hcl.KeyValuePair{Key: &yamlExpr{f: e.f, n: resolve(p.key)}, Value: &yamlExpr{f: e.f, n: p.val, key: p.key}})
	}
	return out
}

type yamlEval struct {
	f      *yamlFile
	active map[*yaml.Node]bool // anchored nodes being expanded, against cycles
	budget int
	diags  hcl.Diagnostics
}

func (ev *yamlEval) fail(n *yaml.Node, summary, detail string) cty.Value {
	ev.diags = append(ev.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: ev.f.rng(n).Ptr()})
	return cty.DynamicVal
}

func (ev *yamlEval) value(n *yaml.Node, viaAlias bool) cty.Value {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return ev.fail(n, "Invalid YAML alias", "The alias refers to no anchor.")
		}
		if ev.active[n.Alias] {
			return ev.fail(n, "Invalid YAML alias", fmt.Sprintf("The alias *%s refers to a value that contains it.", n.Value))
		}
		ev.active[n.Alias] = true
		defer delete(ev.active, n.Alias)
		return ev.value(n.Alias, true)
	}
	if viaAlias {
		if ev.budget--; ev.budget < 0 {
			if ev.budget == -1 {
				return ev.fail(n, "Invalid YAML alias", fmt.Sprintf("Aliases expand to more than %d values here.", maxAliasNodes))
			}
			return cty.DynamicVal
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return ev.scalar(n)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return cty.EmptyTupleVal
		}
		vals := make([]cty.Value, 0, len(n.Content))
		for _, c := range n.Content {
			vals = append(vals, ev.value(c, viaAlias))
		}
		return cty.TupleVal(vals)
	case yaml.MappingNode:
		pairs := ev.f.pairs(n)
		if len(pairs) == 0 {
			return cty.EmptyObjectVal
		}
		vals := make(map[string]cty.Value, len(pairs))
		for _, p := range pairs {
			vals[p.name] = ev.value(p.val, viaAlias)
		}
		return cty.ObjectVal(vals)
	}
	return ev.fail(n, "Invalid YAML value", "A value is a scalar, a list or a mapping.")
}

var yamlFloatSpecial = map[string]cty.Value{
	".inf": cty.PositiveInfinity, "+.inf": cty.PositiveInfinity, "-.inf": cty.NegativeInfinity,
}

func (ev *yamlEval) scalar(n *yaml.Node) cty.Value {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return cty.NullVal(cty.DynamicPseudoType)
	case "!!bool":
		switch strings.ToLower(n.Value) {
		case "true":
			return cty.True
		case "false":
			return cty.False
		}
		return ev.fail(n, "Invalid YAML boolean", fmt.Sprintf("A boolean is true or false; got %q.", n.Value))
	case "!!int":
		if i, ok := parseYAMLInt(n.Value); ok {
			return cty.NumberVal(new(big.Float).SetInt(i))
		}
		return ev.fail(n, "Invalid YAML integer", fmt.Sprintf("%q is not an integer.", n.Value))
	case "!!float":
		s := strings.ReplaceAll(n.Value, "_", "")
		if v, ok := yamlFloatSpecial[strings.ToLower(s)]; ok {
			return v
		}
		if strings.EqualFold(s, ".nan") {
			return ev.fail(n, "Invalid YAML number", "NaN (not a number) cannot be used in a configuration.")
		}
		if v, err := cty.ParseNumberVal(s); err == nil {
			return v
		}
		if fl, err := strconv.ParseFloat(s, 64); err == nil {
			return cty.NumberFloatVal(fl)
		}
		return ev.fail(n, "Invalid YAML number", fmt.Sprintf("%q is not a number.", n.Value))
	case "!!str", "!!timestamp", "!!binary":
		return cty.StringVal(n.Value)
	default:
		return ev.fail(n, fmt.Sprintf("Unsupported YAML tag %q", tag), "Only the standard tags (!!str, !!int, !!float, !!bool, !!null) are understood.")
	}
}

// parseYAMLInt reads a YAML 1.2 core integer (decimal even with leading
// zeros, 0o, 0x) and the 0b and "_" forms yaml.v3 also tags !!int.
func parseYAMLInt(s string) (*big.Int, bool) {
	s = strings.ReplaceAll(s, "_", "")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			s = s[2:]
		}
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return nil, false
	}
	i, ok := new(big.Int).SetString(s, base)
	if !ok {
		return nil, false
	}
	if neg {
		i.Neg(i)
	}
	return i, true
}

// yamlTooDeep returns the first node nested deeper than MaxNesting, so that
// YAML has the limit HCL and JSON have (yaml.v3's own is 10,000). It walks
// with an explicit stack and does not follow aliases: their targets are
// walked where they are defined.
func yamlTooDeep(doc *yaml.Node) *yaml.Node {
	type item struct {
		n     *yaml.Node
		depth int
	}
	stack := []item{{doc, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > MaxNesting {
			return it.n
		}
		for _, c := range it.n.Content {
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	return nil
}
