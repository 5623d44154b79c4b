package config

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// MaxNesting bounds how deeply brackets, braces, parentheses, strings and
// template interpolations may nest in a configuration. HCL's parser and
// evaluator recurse once per level (and cty once per level of a nested
// value), so 100,000 "[" in a 200 KB file overflow the Go stack: a fatal
// runtime error, not a message. A configuration needs about ten levels
// (block, dynamic block, content, function call, list, for expression).
const MaxNesting = 100

// MaxOperators bounds the operators (unary, binary, conditional) and index
// brackets in one HCL statement (one attribute): hclsyntax builds and evaluates a chain
// such as "1+1+1+…" or "!!!…x" as a tree as deep as the chain is long, so
// a long one overflows the stack as deep brackets do.
const MaxOperators = 10000

// checkNesting refuses, before any parser sees it, source whose nesting
// (MaxNesting) or operator chains (MaxOperators) would exhaust the parsers'
// stack. It is one pass over the bytes with a stack of open brackets,
// strings, heredocs and interpolations and no allocation per token, so it
// costs a fraction of parsing (HCL's own lexer would allocate about a
// hundred bytes per token). YAML is refused by yaml.v3 at 10,000 levels,
// which it handles without harm, and is checked again on its node tree (see
// ParseYAML). The error points at where the limit is passed.
func checkNesting(filename string, src []byte, syntax Syntax) Diagnostics {
	switch syntax {
	case SyntaxHCL:
		return scanHCL(filename, src, hcl.InitialPos, false)
	case SyntaxJSON:
		return checkJSONNesting(filename, src)
	}
	return nil
}

// checkExprNesting is checkNesting for a lone expression (a -var value).
func checkExprNesting(name string, src []byte) Diagnostics {
	return scanHCL(name, src, hcl.InitialPos, false)
}

// scanHCL is the HCL native scan; template says that src is a template (a
// string's content, as HCL's JSON syntax reads strings), not a body.
func scanHCL(filename string, src []byte, start hcl.Pos, template bool) Diagnostics {
	type frame struct {
		kind   byte   // '(' '[' '{' code; '$' interpolation; '"' string; '<' heredoc
		marker []byte // heredoc
	}
	var stack []frame
	if template {
		stack = append(stack, frame{kind: '"'})
	}
	ops := 0
	bol := false // at the start of a heredoc line
	at := func(i int) hcl.Range {
		p := start
		for _, c := range src[:i] {
			p.Byte++
			p.Column++
			if c == '\n' {
				p.Line++
				p.Column = 1
			}
		}
		return hcl.Range{Filename: filename, Start: p, End: p}
	}
	push := func(i int, f frame) Diagnostics {
		stack = append(stack, f)
		if len(stack) > MaxNesting {
			return tooDeep(at(i))
		}
		return nil
	}
	op := func(i int) Diagnostics {
		ops++
		if ops > MaxOperators {
			return Diagnostics{{Pos: PosOf(at(i)), Severity: Error, Code: "too-complex",
				Message: fmt.Sprintf("more than %d operators in one expression", MaxOperators),
				Detail:  "a configuration needs a few; split the expression or compute the value outside"}}
		}
		return nil
	}
	next := func(i int) byte {
		if i+1 < len(src) {
			return src[i+1]
		}
		return 0
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		top := byte(0)
		if len(stack) > 0 {
			top = stack[len(stack)-1].kind
		}
		switch top {
		case '"', '<':
			if top == '<' && bol {
				bol = false
				j := i
				for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
					j++
				}
				m := stack[len(stack)-1].marker
				if k := j + len(m); k <= len(src) && string(src[j:k]) == string(m) && (k == len(src) || src[k] == '\n' || src[k] == '\r') {
					stack = stack[:len(stack)-1]
					i = k - 1
					continue
				}
			}
			switch {
			case c == '\\' && top == '"':
				i++
			case c == '"' && top == '"':
				stack = stack[:len(stack)-1]
			case c == '\n':
				if top == '"' {
					stack = stack[:len(stack)-1] // unterminated: the parser says so
				}
				bol = true
			case (c == '$' || c == '%') && next(i) == c && i+2 < len(src) && src[i+2] == '{':
				i += 2 // $${ and %%{ are literal
			case (c == '$' || c == '%') && next(i) == '{':
				if ds := push(i, frame{kind: '$'}); ds != nil {
					return ds
				}
				i++
			}
			continue
		}
		switch {
		case c == '#' || (c == '/' && next(i) == '/'):
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case c == '/' && next(i) == '*':
			i += 2
			for i+1 < len(src) && !(src[i] == '*' && src[i+1] == '/') {
				i++
			}
			i++
		case c == '"':
			if ds := push(i, frame{kind: '"'}); ds != nil {
				return ds
			}
		case c == '<' && next(i) == '<':
			j := i + 2
			if j < len(src) && src[j] == '-' {
				j++
			}
			k := j
			for k < len(src) && isIdentByte(src[k]) {
				k++
			}
			if k > j && k < len(src) && (src[k] == '\n' || src[k] == '\r') {
				if ds := push(i, frame{kind: '<', marker: src[j:k]}); ds != nil {
					return ds
				}
				for k < len(src) && src[k] != '\n' {
					k++
				}
				i, bol = k, true
				continue
			}
			if ds := op(i); ds != nil {
				return ds
			}
			i++
		case c == '(' || c == '[' || c == '{':
			if ds := push(i, frame{kind: c}); ds != nil {
				return ds
			}
			if c == '[' {
				// x[a][b][c]… is a chain of index expressions.
				if ds := op(i); ds != nil {
					return ds
				}
			}
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case c == '\n':
			if len(stack) == 0 || stack[len(stack)-1].kind == '{' {
				// A new statement: an attribute of a body or an item of
				// an object ends at a newline, other brackets continue.
				ops = 0
			}
		case c >= '0' && c <= '9':
			// A number may hold '-' or '+' after its exponent: not an operator.
			for i+1 < len(src) && (src[i+1] >= '0' && src[i+1] <= '9' || src[i+1] == '.' || src[i+1] == 'e' || src[i+1] == 'E' ||
				(src[i+1] == '-' || src[i+1] == '+') && (src[i] == 'e' || src[i] == 'E')) {
				i++
			}
		case isIdentByte(c) && c != '-':
			// An identifier may hold '-' (foo-bar): not an operator.
			for i+1 < len(src) && isIdentByte(src[i+1]) {
				i++
			}
		case c == '!' || c == '-' || c == '+' || c == '*' || c == '/' || c == '%' || c == '?' ||
			c == '<' || c == '>' || (c == '=' || c == '&' || c == '|') && next(i) == c:
			if ds := op(i); ds != nil {
				return ds
			}
			if next(i) == '=' || (c == '&' || c == '|') {
				i++
			}
		}
	}
	return nil
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

func tooDeep(r hcl.Range) Diagnostics {
	return Diagnostics{{Pos: PosOf(r), Severity: Error, Code: "too-deep",
		Message: fmt.Sprintf("nested more than %d levels deep", MaxNesting),
		Detail:  "brackets, braces, parentheses and template interpolations nest at most this deep"}}
}

// checkJSONNesting counts arrays and objects outside strings, and checks
// each string holding a template ("${" or "%{") as HCL's JSON syntax will
// parse it: with hclsyntax, so with the same recursion.
func checkJSONNesting(filename string, src []byte) Diagnostics {
	depth, line, col := 0, 1, 1
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '\n':
			line, col = line+1, 1
			continue
		case '[', '{':
			depth++
			if depth > MaxNesting {
				return tooDeep(hcl.Range{Filename: filename, Start: hcl.Pos{Line: line, Column: col, Byte: i}})
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"':
			start := hcl.Pos{Line: line, Column: col, Byte: i}
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil // an unterminated string: the JSON parser says where
			}
			lit := src[i : j+1]
			col += len(lit)
			i = j
			if ds := checkJSONTemplate(filename, lit, start); ds != nil {
				return ds
			}
			continue
		}
		col++
	}
	return nil
}

func checkJSONTemplate(filename string, lit []byte, start hcl.Pos) Diagnostics {
	if !containsTemplate(lit) {
		return nil
	}
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return nil // the JSON parser reports it
	}
	// Positions inside the string are HCL's own guess too: the literal's
	// start plus the quote.
	start.Column++
	start.Byte++
	return scanHCL(filename, []byte(s), start, true)
}

func containsTemplate(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if (b[i] == '$' || b[i] == '%') && b[i+1] == '{' {
			return true
		}
	}
	return false
}
