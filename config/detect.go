package config

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
)

// DetectSyntax says which syntax a source is written in. The file name's
// extension decides when it says something: .hcl (or .ctsync), .json,
// .yaml or .yml, and .conf for a legacy conntrackd.conf. Otherwise (no
// extension, .txt, .j2, standard input) the first line that is not blank
// or a comment decides:
//
//	{ or [                       JSON
//	Word {   (capitalised)       legacy conntrackd.conf (General {, Sync {)
//	word {   word "label" {      HCL (ctsync's blocks are lower case)
//	name = value                 HCL
//	name: value   ---   - item   YAML (also a %YAML or %TAG directive)
//
// ok is false when neither says: the caller should ask for the syntax
// (--input) rather than guess.
func DetectSyntax(filename string, src []byte) (s Syntax, ok bool) {
	if s := syntaxOfName(filename); s != SyntaxAuto {
		return s, true
	}
	return sniffSyntax(src)
}

// syntaxOfName is the syntax a file name's extension says, or SyntaxAuto.
func syntaxOfName(filename string) Syntax {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".hcl", ".ctsync":
		return SyntaxHCL
	case ".json":
		return SyntaxJSON
	case ".yaml", ".yml":
		return SyntaxYAML
	case ".conf":
		return SyntaxLegacy
	}
	return SyntaxAuto
}

var (
	legacySection = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*\s*\{`)
	hclBlock      = regexp.MustCompile(`^[a-z_][A-Za-z0-9_-]*(\s+("[^"]*"|[A-Za-z_][A-Za-z0-9_-]*))*\s*\{`)
	hclAttr       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*\s*=[^=]`)
	yamlFirstLine = regexp.MustCompile(`^(---|%YAML\s|%TAG\s|-\s|[A-Za-z0-9_"'][^:#{]*:(\s|$))`)
)

// sniffSyntax decides from the first significant line; see DetectSyntax.
// It looks at one line only, so it costs nothing on a large input.
func sniffSyntax(src []byte) (Syntax, bool) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	for len(src) > 0 {
		var line []byte
		line, src, _ = bytes.Cut(src, []byte("\n"))
		t := string(bytes.TrimSpace(line))
		switch {
		case t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "//"):
			continue
		case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
			return SyntaxJSON, true
		case legacySection.MatchString(t):
			return SyntaxLegacy, true
		case hclBlock.MatchString(t), hclAttr.MatchString(t + "\n"), strings.HasPrefix(t, "/*"):
			return SyntaxHCL, true
		case yamlFirstLine.MatchString(t):
			return SyntaxYAML, true
		}
		return SyntaxAuto, false
	}
	return SyntaxAuto, false
}
