package config

import (
	"fmt"
	"regexp"
	"strings"
)

// HCL's decoder words its diagnostics in HCL's terms ("argument", "block
// type", "tuple"). The YAML front end presents YAML as an HCL body and HCL's
// JSON syntax is decoded by HCL, so their users would read those terms for
// what they call keys, mappings, lists, properties, objects and arrays.
// speak rewrites the decoder's diagnostics in the words of the file's
// syntax; codes and positions stay, so every syntax gets the same
// diagnostic, spelt its own way.

var (
	hclNamed      = regexp.MustCompile(`(?:argument named|block type is named|Blocks of type|argument) "((?:[^"\\]|\\.)*)"`)
	hclDidYouMean = regexp.MustCompile(`Did you mean "((?:[^"\\]|\\.)*)"\?`)
	hclGotType    = regexp.MustCompile(`, got (tuple|object)$`)
)

// terms are a syntax's words for HCL's.
type terms struct {
	key, list, object string
}

var syntaxTerms = map[Syntax]terms{
	SyntaxYAML: {key: "key", list: "a list", object: "a mapping"},
	SyntaxJSON: {key: "property", list: "an array", object: "an object"},
}

func speak(s Syntax, ds Diagnostics) Diagnostics {
	w, ok := syntaxTerms[s]
	if !ok {
		return ds
	}
	for i := range ds {
		d := &ds[i]
		switch d.Code {
		case "unknown-attribute", "unknown-block":
			m := hclNamed.FindStringSubmatch(d.Detail)
			if m == nil {
				continue
			}
			// YAML and JSON do not tell a block from an argument: both
			// are a key; the code keeps the front end's best guess.
			d.Message = fmt.Sprintf("unsupported %s \"%s\"", w.key, m[1])
			if s := hclDidYouMean.FindStringSubmatch(d.Detail); s != nil {
				d.Detail = fmt.Sprintf("did you mean \"%s\"?", s[1])
			} else {
				d.Detail = "no setting of that name belongs here"
			}
		case "missing-attribute":
			m := hclNamed.FindStringSubmatch(d.Detail)
			if m == nil || !strings.HasPrefix(d.Message, "missing required argument") {
				continue
			}
			d.Message = "missing required " + w.key
			d.Detail = fmt.Sprintf("the %s \"%s\" is required", w.key, m[1])
		case "type":
			d.Message = hclGotType.ReplaceAllStringFunc(d.Message, func(got string) string {
				if strings.HasSuffix(got, "tuple") {
					return ", got " + w.list
				}
				return ", got " + w.object
			})
		}
	}
	return ds
}
