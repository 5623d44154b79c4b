package migrate

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/config"
)

// The lexer mirrors conntrackd 1.4.7's flex scanner (src/read_config_lex.l):
// at each position every rule is tried, the longest match wins and, on equal
// length, the rule listed first. The scanner's oddities are kept on purpose
// (they decide what the 1.4.7 dialect accepts); the parser explains them.

// TokenKind says which scanner rule produced a token.
type TokenKind int

const (
	TokEOF      TokenKind = iota
	TokKeyword            // one of the literal keywords of 1.4.7 (Keywords147)
	TokBool               // on/off/yes/no in any case (and the `|` quirk)
	TokNumber             // [0-9]+
	TokSigned             // [-+][0-9]+
	TokIPv4               // four digit groups, optional /N
	TokIPv6               // hex groups with ::, optional /N (also "cafe")
	TokPath               // / followed by anything but ", newline, space
	TokMode               // FTFW NOTRACK ALARM NACK PERSISTENT
	TokWord               // [a-zA-Z][a-zA-Z0-9._-]*
	TokLBrace             // {
	TokRBrace             // }
	TokChar               // any other single byte, returned as itself
	TokComment            // # to end of line (kept for the converter)
	TokTemplate           // unrendered Jinja/Go template text: {{ {% {#
)

var kindNames = [...]string{"end of file", "keyword", "boolean", "number", "signed number",
	"IPv4 address", "IPv6 address", "path", "mode name", "word", `"{"`, `"}"`, "character",
	"comment", "template text"}

func (k TokenKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "token"
}

// Token is one lexeme with the position of its first byte.
type Token struct {
	Kind TokenKind
	Text string
	Pos  config.Pos
	// Unterminated marks a comment that ends the file without a newline:
	// conntrackd's comment rule (#.*$) needs the newline, so 1.4.7 returns
	// "#" as a stray character and fails.
	Unterminated bool `json:",omitempty"`
}

// Bool reports the value of a boolean token; ok is false for other kinds.
// Which of on/yes or off/no matched is decided as flex does: the "true"
// rule is listed first, so "||" is true.
func (t Token) Bool() (value, ok bool) {
	if t.Kind != TokBool {
		return false, false
	}
	n := len(t.Text)
	return matchClasses(t.Text, isOn) == n || matchClasses(t.Text, isYes) == n, true
}

// Uint returns the value conntrackd computes for a number token: C atoi,
// which saturates at LONG_MAX and is then truncated to a 32-bit int.
func (t Token) Uint() (int64, bool) {
	if t.Kind != TokNumber && t.Kind != TokSigned {
		return 0, false
	}
	return atoi(t.Text), true
}

// Mode returns the canonical mode name (FTFW, NOTRACK, ALARM) of a mode
// token and whether the old name (NACK, PERSISTENT) was used.
func (t Token) Mode() (canonical string, old bool) {
	switch {
	case matchClasses(t.Text, modeFTFW) == len(t.Text):
		return "FTFW", false
	case matchClasses(t.Text, modeNACK) == len(t.Text):
		return "FTFW", true
	case matchClasses(t.Text, modeNOTRACK) == len(t.Text):
		return "NOTRACK", false
	case matchClasses(t.Text, modeALARM) == len(t.Text):
		return "ALARM", false
	case matchClasses(t.Text, modePERSISTENT) == len(t.Text):
		return "ALARM", true
	}
	return "", false
}

// atoi mimics glibc atoi on a digit string with an optional sign.
func atoi(s string) int64 {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // only overflow is possible here
		v = 1<<63 - 1
		if neg {
			return 0 // LONG_MIN truncated to 32 bits
		}
	}
	if neg {
		v = -v
	}
	return int64(int32(v))
}

// Character classes of the scanner, one string of allowed bytes per
// position. The literal '|' in each class is the scanner's own bug.
var (
	isOn           = []string{"o|O", "n|N"}
	isOff          = []string{"o|O", "f|F", "f|F"}
	isYes          = []string{"y|Y", "e|E", "s|S"}
	isNo           = []string{"n|N", "o|O"}
	modePERSISTENT = []string{"P|p", "E|e", "R|r", "S|s", "I|i", "S|s", "T|t", "E|e", "N|n", "T|T"}
	modeNACK       = []string{"N|n", "A|a", "C|c", "K|k"}
	modeALARM      = []string{"A|a", "L|l", "A|a", "R|r", "M|m"}
	modeFTFW       = []string{"F|f", "T|t", "F|f", "W|w"}
	modeNOTRACK    = []string{"N|n", "O|o", "T|t", "R|r", "A|a", "C|c", "K|k"}
)

// matchClasses returns len(cls) if s starts with a match of the fixed-length
// pattern cls, else 0.
func matchClasses(s string, cls []string) int {
	if len(s) < len(cls) {
		return 0
	}
	for i, c := range cls {
		if !strings.ContainsRune(c, rune(s[i])) {
			return 0
		}
	}
	return len(cls)
}

var ip6Re = regexp.MustCompile(`^(?:(?:[0-9a-fA-F]{1,4}:?){0,7}::(?:[0-9a-fA-F]{1,4}:?){0,7}|(?:[0-9a-fA-F]{1,4}:){0,7}[0-9a-fA-F]{1,4})(?:/[0-9]+)?`)

func init() { ip6Re.Longest() }

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func digitRun(s string, i int) int {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return j - i
}

func ip4Len(s string) int {
	i := 0
	for part := 0; part < 4; part++ {
		n := digitRun(s, i)
		if n == 0 {
			return 0
		}
		i += n
		if part < 3 {
			if i >= len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
	}
	if i < len(s) && s[i] == '/' {
		if n := digitRun(s, i+1); n > 0 {
			i += 1 + n
		}
	}
	return i
}

func stringLen(s string) int {
	if s == "" || !isLetter(s[0]) {
		return 0
	}
	i := 1
	for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_') {
		i++
	}
	return i
}

// Lexer turns a legacy configuration into tokens, one at a time.
type Lexer struct {
	file string
	src  string
	off  int
	line int
	col  int
}

// NewLexer returns a lexer over src; filename is used in positions.
func NewLexer(filename string, src []byte) *Lexer {
	return &Lexer{file: filename, src: string(src), line: 1, col: 1}
}

func (l *Lexer) advance(n int) {
	for _, c := range []byte(l.src[l.off : l.off+n]) {
		if c == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
	}
	l.off += n
}

// Next returns the next token, comments included; TokEOF at the end.
func (l *Lexer) Next() Token {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t' || l.src[l.off] == '\n' || l.src[l.off] == '\r') {
		l.advance(1)
	}
	pos := config.Pos{File: l.file, Line: l.line, Column: l.col}
	if l.off >= len(l.src) {
		return Token{Kind: TokEOF, Pos: pos}
	}
	s := l.src[l.off:]
	kind, n := scan(s)
	tok := Token{Kind: kind, Text: s[:n], Pos: pos}
	if kind == TokComment && n == len(s) {
		tok.Unterminated = true
	}
	if kind == TokPath && templateMarker(tok.Text) >= 0 {
		tok.Kind = TokTemplate
	}
	if kind == TokLBrace || kind == TokRBrace || kind == TokChar {
		// "{{", "{%" and "%}" can never be conntrackd syntax; "{#" can
		// (a block opened before a comment), so only "{# ... #}" counts.
		// "}}" closes two blocks and is fine.
		if len(s) > 1 && (s[:2] == "{{" || s[:2] == "{%" || s[:2] == "%}" || s[:2] == "{#" && jinjaComment(s)) {
			tok.Kind = TokTemplate
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				end = len(s)
			}
			n = end
			tok.Text = strings.TrimRight(s[:n], "\r")
		}
	}
	l.advance(n)
	return tok
}

func jinjaComment(s string) bool {
	line, _, _ := strings.Cut(s, "\n")
	return strings.Contains(line[2:], "#}")
}

// templateMarker finds template text inside a path token, which conntrackd
// would take as part of the file name.
func templateMarker(s string) int {
	for _, m := range []string{"{{", "{%", "%}"} {
		if i := strings.Index(s, m); i >= 0 {
			return i
		}
	}
	return -1
}

// scan applies the scanner rules to the start of s (not whitespace).
func scan(s string) (TokenKind, int) {
	c := s[0]
	switch c {
	case '#':
		// #.*$ : "." excludes only the newline, and "$" needs one.
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			return TokComment, i
		}
		return TokComment, len(s)
	case '{':
		return TokLBrace, 1
	case '}':
		return TokRBrace, 1
	case '/':
		i := 1
		for i < len(s) && s[i] != '"' && s[i] != '\n' && s[i] != ' ' {
			i++
		}
		return TokPath, i
	}
	best, kind := 0, TokChar
	try := func(n int, k TokenKind) {
		if n > best {
			best, kind = n, k
		}
	}
	word := stringLen(s)
	if word > 0 && keywordSet147[s[:word]] {
		try(word, TokKeyword)
	}
	try(max(matchClasses(s, isOn), matchClasses(s, isYes)), TokBool)
	try(max(matchClasses(s, isOff), matchClasses(s, isNo)), TokBool)
	if isDigit(c) {
		try(digitRun(s, 0), TokNumber)
	}
	if (c == '-' || c == '+') && len(s) > 1 {
		if n := digitRun(s, 1); n > 0 {
			try(n+1, TokSigned)
		}
	}
	if isDigit(c) {
		try(ip4Len(s), TokIPv4)
	}
	if isHex(c) || c == ':' {
		try(len(ip6Re.FindString(s)), TokIPv6)
	}
	try(matchClasses(s, modeALARM), TokMode)
	try(matchClasses(s, modePERSISTENT), TokMode)
	try(matchClasses(s, modeFTFW), TokMode)
	try(matchClasses(s, modeNACK), TokMode)
	try(matchClasses(s, modeNOTRACK), TokMode)
	try(word, TokWord)
	if best == 0 {
		return TokChar, 1
	}
	return kind, best
}

// Tokens lexes all of src, comments included, up to and excluding EOF.
func Tokens(filename string, src []byte) []Token {
	l := NewLexer(filename, src)
	var out []Token
	for {
		t := l.Next()
		if t.Kind == TokEOF {
			return out
		}
		out = append(out, t)
	}
}
