package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// WriteYAML writes f as canonical YAML with comments c (see the path grammar
// in write.go), in the shape the YAML front end reads:
//
//   - a block without label is a mapping: daemon: {lock_file: ...};
//   - labeled blocks are a mapping keyed by label: link: {primary: {...}},
//     sync: {ftfw: {...}};
//   - except for blocks with several labels (helper "rpc" "inet" "tcp"), and
//     when two sibling blocks share a label (which validation refuses): then
//     all blocks of that type are a list of mappings whose first keys are
//     the labels, named after the label fields (link: name, cache: tier,
//     sync: mode, stage: kind, helper: name, family, protocol, policy: name).
//
// Strings are quoted only when a YAML reader could take them for something
// else; that includes YAML 1.1 readers ("on", "yes", "0x10", "12:30").
func WriteYAML(w io.Writer, f *File, c Comments) error {
	if f == nil {
		return fmt.Errorf("write yaml: no configuration")
	}
	yw := yamlWriter{c: c}
	root := yw.mapping(reflect.ValueOf(f).Elem(), "")
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	if h, ok := c[""]; ok && len(h.Lead) > 0 {
		doc.HeadComment = yamlComment(h.Lead)
	}
	if h, ok := c[""]; ok && len(h.Foot) > 0 {
		doc.FootComment = yamlComment(h.Foot)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write yaml: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write yaml: %w", err)
	}
	return nil
}

type yamlWriter struct {
	c Comments
}

// mapping renders the body of struct v (at path) as a mapping node.
func (yw yamlWriter) mapping(v reflect.Value, path string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if path != "" {
		defer yw.blockFoot(m, path)
	}
	items := walkItems(v, path)
	for i := 0; i < len(items); i++ {
		it := items[i]
		c := yw.c[it.path]
		key := yamlStr(it.name)
		switch {
		case it.kind == itemAttr:
			key.HeadComment = yamlComment(c.Lead)
			key.FootComment = yamlComment(c.Foot)
			val := yw.value(it)
			if val.Kind == yaml.ScalarNode || val.Style == yaml.FlowStyle {
				val.LineComment = yamlLine(c.Line)
			} else {
				key.LineComment = yamlLine(c.Line)
			}
			m.Content = append(m.Content, key, val)
		case len(it.labels) == 0:
			key.HeadComment = yamlComment(c.Lead)
			body := yw.mapping(it.value, it.path)
			lineOnBlock(key, body, yamlLine(c.Line))
			m.Content = append(m.Content, key, body)
		case v.FieldByIndex(fieldIndex(v.Type(), it.name)).Kind() == reflect.Ptr:
			// A single labeled block (sync "ftfw"): the comment goes on
			// the block's name, which is where a reader looks for it.
			key.HeadComment = yamlComment(c.Lead)
			key.LineComment = yamlLine(c.Line)
			inner := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			inner.Content = append(inner.Content, yamlStr(it.labels[0]), yw.mapping(it.value, it.path))
			m.Content = append(m.Content, key, inner)
		default:
			// A run of sibling blocks of one type.
			j := i
			repeated := false
			for j < len(items) && items[j].kind == itemBlock && items[j].name == it.name {
				if items[j].n > 1 {
					repeated = true
				}
				j++
			}
			run := items[i:j]
			i = j - 1
			// Blocks with several labels (helper "rpc" "inet" "tcp") read
			// best as a list of mappings that name each label.
			m.Content = append(m.Content, key, yw.blockRun(run, repeated || len(it.labels) > 1))
		}
	}
	return m
}

// blockRun renders sibling labeled blocks, keyed by label or, when a label
// repeats, as a list.
func (yw yamlWriter) blockRun(run []item, asList bool) *yaml.Node {
	if !asList {
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, it := range run {
			c := yw.c[it.path]
			k := yamlStr(it.labels[0])
			k.HeadComment = yamlComment(c.Lead)
			body := yw.mapping(it.value, it.path)
			lineOnBlock(k, body, yamlLine(c.Line))
			m.Content = append(m.Content, k, body)
		}
		return m
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, it := range run {
		c := yw.c[it.path]
		body := yw.mapping(it.value, it.path)
		var labels []*yaml.Node
		for i, l := range it.labels {
			labels = append(labels, yamlStr(it.labelFields[i]), yamlStr(l))
		}
		labels[1].LineComment = yamlLine(c.Line)
		body.Content = append(labels, body.Content...)
		body.HeadComment = yamlComment(c.Lead)
		seq.Content = append(seq.Content, body)
	}
	return seq
}

// blockFoot writes the Foot comment of the block at path after the last
// entry of its mapping m, indented as the entries are; an empty block has
// no entry, and gets it as its line comment.
func (yw yamlWriter) blockFoot(m *yaml.Node, path string) {
	foot := yw.c[path].Foot
	if len(foot) == 0 {
		return
	}
	if len(m.Content) == 0 {
		m.Style = yaml.FlowStyle
		m.LineComment = strings.TrimSpace(m.LineComment + " " + yamlLine(strings.Join(commentLines(foot), "; ")))
		return
	}
	last := m.Content[len(m.Content)-2]
	last.FootComment = strings.TrimPrefix(last.FootComment+"\n"+yamlComment(foot), "\n")
}

// lineOnBlock puts a block's line comment on its key, except for an empty
// block, which yaml.v3 writes as "{}" on the line after a commented key,
// where it no longer parses: there the comment follows the "{}".
func lineOnBlock(key, body *yaml.Node, line string) {
	if len(body.Content) == 0 {
		body.Style = yaml.FlowStyle
		body.LineComment = strings.TrimSpace(line + " " + body.LineComment)
		return
	}
	key.LineComment = line
}

func fieldIndex(t reflect.Type, name string) []int {
	for _, f := range fieldsOf(t) {
		if f.name == name && f.kind == "block" {
			return []int{f.index}
		}
	}
	panic("config: no block field " + name)
}

// value renders an attribute's value.
func (yw yamlWriter) value(it item) *yaml.Node {
	v := it.value
	if v.Kind() == reflect.Ptr {
		v = v.Elem()
	}
	if it.bytes {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v.String()}
	}
	if v.Kind() != reflect.Slice {
		return yamlScalar(v)
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	width := 2*strings.Count(it.path, ".") + len(it.name) + len(": []")
	commented := false
	for i := 0; i < v.Len(); i++ {
		e := yamlScalar(v.Index(i))
		ec := yw.c[Path(it.parent, Elem(it.name, i))]
		if len(ec.Lead) > 0 || oneLine(ec.Line) != "" {
			commented = true
		}
		e.HeadComment = yamlComment(ec.Lead)
		e.LineComment = yamlLine(ec.Line)
		width += len(e.Value) + len(", ")
		if e.Style == yaml.DoubleQuotedStyle {
			width += 2
		}
		seq.Content = append(seq.Content, e)
	}
	if !commented && width <= maxListWidth+2 {
		seq.Style = yaml.FlowStyle
	}
	return seq
}

func yamlScalar(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.String:
		return yamlStr(v.String())
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	}
	panic(fmt.Sprintf("config: cannot write a %s", v.Type()))
}

func yamlStr(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11NonString(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// YAML 1.1 (PyYAML, hence Ansible) reads these plain scalars as booleans,
// numbers or null. yaml.v3 quotes what YAML 1.2 would misread; these are
// quoted as well so that a file written here means the same everywhere.
var (
	yaml11Int   = regexp.MustCompile(`^[-+]?(0b[0-1_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)$`)
	yaml11Float = regexp.MustCompile(`^([-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+]?[0-9]+)?|\.[0-9][0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$`)
	yaml11Other = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
		"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
		"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
		"~": true, "null": true, "Null": true, "NULL": true, "": true, "<<": true, "=": true,
	}
)

func yaml11NonString(s string) bool {
	return yaml11Other[s] || yaml11Int.MatchString(s) || yaml11Float.MatchString(s)
}

// yamlComment renders comment lines for yaml.v3, which expects the markers.
func yamlComment(lines []string) string {
	var out []string
	for _, l := range commentLines(lines) {
		out = append(out, commentText(l))
	}
	return strings.Join(out, "\n")
}

func yamlLine(s string) string {
	if oneLine(s) == "" {
		return ""
	}
	return commentText(s)
}
