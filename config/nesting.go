package config

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting bounds how deeply brackets, braces, parentheses, strings and
// template interpolations may nest in a configuration. HCL's parser and
// evaluator recurse once per level (and cty once per level of a nested
// value), so 100,000 "[" in a 200 KB file overflow the Go stack: a fatal
// runtime error, not a message. A configuration needs about ten levels
// (block, dynamic block, content, function call, list, for expression).
const MaxNesting = 100

// MaxOperators bounds the operators (unary, binary, conditional) and index
// brackets in one HCL statement: hclsyntax builds and evaluates a chain
// such as "1+1+1+…" or "!!!…x" as a tree as deep as the chain is long, so
// a long one overflows the stack as deep brackets do.
const MaxOperators = 10000

// CheckNesting refuses, before any parser sees it, source whose nesting
// (MaxNesting) or operator chains (MaxOperators) would exhaust the parsers'
// stack. It costs one pass of HCL's own lexer (which is a state machine,
// not recursive) or, for JSON, of a string-aware byte scan. YAML is
// refused by yaml.v3 at 10,000 levels, which it handles without harm, and
// is checked again on its node tree (see ParseYAML). The error points at
// the token where the limit is passed.
func CheckNesting(filename string, src []byte, syntax Syntax) Diagnostics {
	switch syntax {
	case SyntaxHCL:
		toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
		return checkTokens(toks)
	case SyntaxJSON:
		return checkJSONNesting(filename, src)
	}
	return nil
}

// checkExprNesting is CheckNesting for a lone expression (a -var value).
func checkExprNesting(name string, src []byte) Diagnostics {
	toks, _ := hclsyntax.LexExpression(src, name, hcl.InitialPos)
	return checkTokens(toks)
}

func checkTokens(toks hclsyntax.Tokens) Diagnostics {
	depth, ops := 0, 0
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			if depth > MaxNesting {
				return tooDeep(t.Range)
			}
			if t.Type == hclsyntax.TokenOBrack {
				ops++ // x[a][b][c]… is a chain of index expressions
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if depth > 0 {
				depth--
			}
		case hclsyntax.TokenNewline:
			if depth == 0 {
				ops = 0 // a new statement
			}
			continue
		case hclsyntax.TokenBang, hclsyntax.TokenMinus, hclsyntax.TokenPlus, hclsyntax.TokenStar,
			hclsyntax.TokenSlash, hclsyntax.TokenPercent, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan,
			hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq,
			hclsyntax.TokenQuestion:
			ops++
		default:
			continue
		}
		if ops > MaxOperators {
			return Diagnostics{{Pos: PosOf(t.Range), Severity: Error, Code: "too-complex",
				Message: fmt.Sprintf("more than %d operators in one expression", MaxOperators),
				Detail:  "a configuration needs a few; split the expression or compute the value outside"}}
		}
	}
	return nil
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
	toks, _ := hclsyntax.LexTemplate([]byte(s), filename, start)
	return checkTokens(toks)
}

func containsTemplate(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if (b[i] == '$' || b[i] == '%') && b[i+1] == '{' {
			return true
		}
	}
	return false
}
