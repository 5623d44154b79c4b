package migrate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ctsync/ctsync/config"
)

// Dialect selects which legacy releases the parser judges by.
type Dialect int

const (
	// Dialect147 accepts exactly what conntrackd 1.4.7 accepts and reports
	// its parse-time warnings and fatal errors.
	Dialect147 Dialect = iota
	// DialectLenient also accepts the keywords that 1.4.0-1.4.4 accepted
	// and 1.4.5 removed, each with a "removed-keyword" warning (ctsync migrate).
	DialectLenient
)

// Options configure Parse.
type Options struct {
	Dialect Dialect
	// InterfaceExists reports whether a network interface exists on this
	// host (conntrackd warns about unknown ones); nil uses net.InterfaceByName.
	InterfaceExists func(name string) bool
}

// stopParse unwinds the parser at the first error, as conntrackd stops.
type stopParse struct{}

type parser struct {
	lx    *Lexer
	tok   Token
	opts  Options
	file  *File
	diags config.Diagnostics
	st    legacyState
}

// Parse reads a legacy conntrackd.conf. It stops at the first error, like
// conntrackd, keeping the warnings found before it. The returned File holds
// what was parsed so far even when there is an error.
func Parse(filename string, src []byte, opts Options) (*File, config.Diagnostics) {
	p := &parser{lx: NewLexer(filename, src), opts: opts, file: &File{Name: filename, Source: &config.Source{Name: filename, Text: src}}}
	p.st.init()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopParse); !ok {
					panic(r)
				}
			}
		}()
		p.next()
		for p.at().Kind != TokEOF {
			p.file.Directives = append(p.file.Directives, p.directive(""))
		}
		p.finish()
	}()
	attachComments(p.file)
	p.diags.AttachSource(p.file.Source)
	return p.file, p.diags
}

// next moves to the next non-comment token, recording comments.
func (p *parser) next() {
	for {
		t := p.lx.Next()
		if t.Kind != TokComment {
			p.tok = t
			return
		}
		p.file.Comments = append(p.file.Comments, Comment{Text: strings.TrimRight(t.Text, "\r"), Pos: t.Pos})
		if t.Unterminated {
			if p.opts.Dialect == Dialect147 {
				// conntrackd sees a stray "#" here.
				p.tok = Token{Kind: TokChar, Text: "#", Pos: t.Pos, Unterminated: true}
				return
			}
			p.quirk(t.Pos, "eof-comment", "the comment on the last line has no line break after it",
				"conntrackd 1.4.7 rejects this file (syntax error at \"#\"); add a newline at the end")
		}
	}
}

// at returns the current token, failing on text conntrackd cannot read
// that has a better explanation than "syntax error".
func (p *parser) at() Token {
	t := p.tok
	switch {
	case t.Kind == TokTemplate:
		p.fail(t.Pos, "template", fmt.Sprintf("unrendered template text %q", clip(t.Text)),
			"render the template first (this looks like Jinja/Ansible or Go template syntax)")
	case t.Unterminated:
		p.fail(t.Pos, "syntax", "comment on the last line has no line break after it",
			"conntrackd 1.4.7 only recognises a # comment that ends with a newline and fails with \"symbol '#': syntax error\"; add a newline at the end of the file")
	}
	return t
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// fail reports an error and stops parsing, as conntrackd stops at its first.
func (p *parser) fail(pos config.Pos, code, msg, detail string) {
	p.diags.Add(pos, config.Error, code, detail, "%s", msg)
	panic(stopParse{})
}

func (p *parser) warn(pos config.Pos, code, msg, detail string) {
	p.diags.Add(pos, config.Warning, code, detail, "%s", msg)
}

func (p *parser) quirk(pos config.Pos, id, msg, detail string) {
	if detail != "" {
		detail += " (quirk " + id + ")"
	} else {
		detail = "quirk " + id
	}
	p.warn(pos, "legacy-quirk", msg, detail)
}

func describe(t Token) string {
	switch t.Kind {
	case TokEOF:
		return "end of file"
	case TokLBrace, TokRBrace:
		return fmt.Sprintf("%q", t.Text)
	case TokChar:
		return fmt.Sprintf("character %q", t.Text)
	}
	return fmt.Sprintf("%s %q", t.Kind, t.Text)
}

func ctxName(ctx string) string {
	if ctx == "" {
		return "the top level"
	}
	return ctx
}

// directive parses one keyword and what follows it in context ctx.
func (p *parser) directive(ctx string) *Directive {
	t := p.at()
	if t.Kind != TokKeyword && t.Kind != TokWord {
		p.unexpected(ctx, t)
	}
	k := p.lookup(ctx, t)
	d := &Directive{Keyword: t.Text, Path: k.Path, Pos: t.Pos, End: t.Pos}
	p.next()
	p.value(k, d)
	return d
}

func (p *parser) unexpected(ctx string, t Token) {
	detail := "expected a keyword of " + ctxName(ctx)
	if ctx != "" {
		detail += " or \"}\""
	}
	switch {
	case t.Kind == TokEOF:
		p.fail(t.Pos, "syntax", "unexpected end of file in "+ctxName(ctx), "a \"}\" is missing")
	case t.Kind == TokRBrace && ctx == "":
		p.fail(t.Pos, "syntax", "unexpected \"}\" at the top level", "there are more \"}\" than \"{\"")
	case t.Kind == TokIPv6 && stringLen(t.Text) == len(t.Text):
		detail = "conntrackd lexes a short all-hex word as an IPv6 address (quirk hex-word-ipv6); " + detail
	}
	p.fail(t.Pos, "syntax", fmt.Sprintf("unexpected %s in %s", describe(t), ctxName(ctx)), detail)
}

// lookup resolves a keyword in ctx or fails with the best explanation.
func (p *parser) lookup(ctx string, t Token) *Keyword {
	name := t.Text
	if t.Kind == TokKeyword {
		switch {
		case ctx == "Helper" && (name == "QueueNum" || name == "QueueLen" || name == "Policy"):
			p.quirk(t.Pos, "helper-outside-type", fmt.Sprintf("%s directly inside Helper applies to the next Type block", name),
				"move it into the Type block it belongs to")
			return grammarIndex["Helper.Type"][name]
		case ctx == "Stats" && name == "NetlinkEventsReliable" && p.opts.Dialect == DialectLenient:
			// The conntrackd.conf(5) man page's STATS EXAMPLE puts it here,
			// though no release accepts it; operators copy that example.
			p.warn(t.Pos, "misplaced-keyword", "NetlinkEventsReliable is not valid in Stats (conntrackd rejects it there, though its man page shows it)",
				"migrate reads it as the General option it is")
			return grammarIndex["General"][name]
		case ctx == "Helper.Type" && name == "Type":
			p.quirk(t.Pos, "nested-helper-type", "Type block inside a Type block",
				"conntrackd accepts it, and the inner Type takes the options of the outer one read so far; close the outer block first")
			return grammarIndex["Helper"][name]
		}
	}
	k := grammarIndex[ctx][name]
	if k != nil && (t.Kind == TokKeyword) == keywordSet147[name] {
		switch k.Status {
		case StatusObsolete:
			p.fail(t.Pos, "obsolete-keyword", fmt.Sprintf("%s is a pre-1.0 keyword that conntrackd 1.4.5 removed", name),
				fmt.Sprintf("use %s instead (%s); migrate cannot convert the value", k.Replacement, k.Note))
		case StatusRemoved:
			if pk := grammarIndex[""][strings.SplitN(k.Path, ".", 2)[0]]; pk != k && pk != nil && pk.Status == StatusRemoved {
				return k // the removed block was reported already
			}
			detail := "removed in conntrackd 1.4.5; " + replacementText(k)
			if p.opts.Dialect == Dialect147 {
				p.fail(t.Pos, "removed-keyword", fmt.Sprintf("%s is not accepted by conntrackd 1.4.7", name),
					detail+"; `ctsync migrate` still reads it")
			}
			p.warn(t.Pos, "removed-keyword", fmt.Sprintf("%s was accepted only by conntrackd 1.4.0-1.4.4", name), detail)
		}
		return k
	}
	// Unknown here: say where it belongs, or what it resembles.
	var places []string
	for _, g := range Grammar {
		if g.Name == name && (g.Status != StatusRemoved && g.Status != StatusObsolete || p.opts.Dialect == DialectLenient) {
			places = append(places, ctxName(g.Parent()))
		}
	}
	if len(places) > 0 {
		p.fail(t.Pos, "unknown-keyword", fmt.Sprintf("keyword %q is not valid in %s", name, ctxName(ctx)),
			"it is valid in "+strings.Join(places, ", "))
	}
	for _, g := range Grammar {
		if g.Name == name {
			p.fail(t.Pos, "removed-keyword", fmt.Sprintf("%s is not accepted by conntrackd 1.4.7", name),
				fmt.Sprintf("removed in conntrackd 1.4.5 (it was valid in %s); %s", ctxName(g.Parent()), replacementText(&g)))
		}
	}
	if t.Kind == TokKeyword {
		p.fail(t.Pos, "syntax", fmt.Sprintf("unexpected %q in %s", name, ctxName(ctx)), "expected a keyword of "+ctxName(ctx))
	}
	msg := fmt.Sprintf("unknown keyword %q in %s", name, ctxName(ctx)) + config.DidYouMean(name, p.names(ctx))
	p.fail(t.Pos, "unknown-keyword", msg, "keywords are case-sensitive; valid here: "+strings.Join(p.names(ctx), " "))
	return nil
}

func replacementText(k *Keyword) string {
	if k.Replacement != "" {
		return "use " + k.Replacement
	}
	if k.Note != "" {
		return k.Note
	}
	return "delete it"
}

func (p *parser) names(ctx string) []string {
	var out []string
	for n, k := range grammarIndex[ctx] {
		if k.Status != StatusRemoved && k.Status != StatusObsolete || p.opts.Dialect == DialectLenient {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// take appends the current token to d's values and moves on.
func (p *parser) take(d *Directive) Token {
	t := p.tok
	d.Args = append(d.Args, t)
	d.End = t.Pos
	p.next()
	return t
}

// want takes a token of one of the kinds, or fails saying what was expected.
func (p *parser) want(d *Directive, what string, kinds ...TokenKind) Token {
	t := p.at()
	for _, k := range kinds {
		if t.Kind == k {
			return p.take(d)
		}
	}
	p.expected(d, what, kinds...)
	return Token{}
}

func (p *parser) wantWord(d *Directive, what string, words ...string) Token {
	t := p.at()
	for _, w := range words {
		if t.Kind == TokKeyword && t.Text == w {
			return p.take(d)
		}
	}
	p.expected(d, what)
	return Token{}
}

func has(kinds []TokenKind, k TokenKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func (p *parser) expected(d *Directive, what string, kinds ...TokenKind) {
	t := p.tok
	after := d.Keyword
	if d.Item {
		after = "the list"
	}
	var hint string
	switch {
	case t.Kind == TokEOF:
		hint = "the file ends early"
	case t.Kind == TokIPv6 && has(kinds, TokWord) && stringLen(t.Text) == len(t.Text):
		hint = "conntrackd 1.4.7 lexes a word of at most 4 hex digits as an IPv6 address, so it cannot be used here (quirk hex-word-ipv6)"
	case t.Kind == TokWord && has(kinds, TokPath):
		hint = "paths must be absolute (start with /); there is no quoting"
	case t.Kind == TokSigned && has(kinds, TokNumber):
		hint = "only Nice takes a signed number"
	case t.Kind == TokNumber && has(kinds, TokSigned):
		hint = "Nice needs an explicit sign: -N or +N"
	case t.Kind == TokWord && has(kinds, TokBool):
		hint = "booleans are on, off, yes and no (any case)"
	case t.Kind == TokWord && has(kinds, TokMode) && strings.EqualFold(t.Text, "persistent"):
		hint = "conntrackd recognises the old name only with an upper-case final T (quirk persistent-case); write ALARM"
	case t.Kind == TokWord && has(kinds, TokMode):
		hint = "modes are FTFW, NOTRACK and ALARM"
	case t.Kind == TokChar && (t.Text == "\"" || t.Text == "'"):
		hint = "conntrackd has no quoting"
	case t.Kind == TokChar && (t.Text == ";" || t.Text == "="):
		hint = "conntrackd syntax is `Keyword value` without \"=\" or \";\""
	case t.Kind == TokWord && strings.EqualFold(t.Text, "tcp") && what == "TCP":
		hint = "write TCP in upper case"
	case t.Kind == TokKeyword && (t.Text == "TCP" || t.Text == "UDP") && d.Path == "Helper.Type":
		hint = "layer-4 protocols are written in lower case here: tcp or udp"
	}
	p.fail(t.Pos, "syntax", fmt.Sprintf("expected %s after %s, found %s", what, after, describe(t)), hint)
}

// block parses "{ directives }" in context ctx.
func (p *parser) block(d *Directive, ctx string) {
	p.open(d)
	for {
		t := p.at()
		if t.Kind == TokRBrace {
			d.End = t.Pos
			p.next()
			break
		}
		if t.Kind == TokEOF {
			p.fail(t.Pos, "syntax", fmt.Sprintf("expected \"}\" to close %s opened at line %d, found end of file", d.Keyword, d.Pos.Line), "")
		}
		d.Block = append(d.Block, p.directive(ctx))
	}
	p.close(d)
}

func (p *parser) lbrace(d *Directive, what string) {
	p.want(&Directive{Keyword: d.Keyword, Path: d.Path}, what, TokLBrace)
	d.HasBlock = true
}

// items parses "{ item... }" where each item is one token accepted by ok.
func (p *parser) items(d *Directive, what string, ok func(Token) bool) {
	p.lbrace(d, `"{"`)
	p.open(d)
	for {
		t := p.at()
		if t.Kind == TokRBrace {
			d.End = t.Pos
			p.next()
			break
		}
		if !ok(t) {
			p.expected(&Directive{Keyword: d.Keyword}, what+` or "}"`, TokWord)
		}
		it := &Directive{Path: d.Path + "[]", Pos: t.Pos, End: t.Pos, Item: true, Args: []Token{t}}
		d.Block = append(d.Block, it)
		p.next()
		p.item(d, it)
	}
	p.close(d)
}

func (p *parser) value(k *Keyword, d *Directive) {
	switch k.Shape {
	case ShapeNone:
	case ShapeNumber:
		p.want(d, "a number", TokNumber)
	case ShapeSigned:
		p.want(d, "a signed number", TokSigned)
	case ShapeBool:
		p.want(d, "on, off, yes or no", TokBool)
	case ShapeBoolOrPath:
		p.want(d, "on, off or an absolute path", TokBool, TokPath)
	case ShapeBoolOrWord:
		p.want(d, "on, off or a facility name", TokBool, TokWord)
	case ShapeBoolOrNumber:
		p.want(d, "on, off or a number", TokBool, TokNumber)
	case ShapePath:
		p.want(d, "an absolute path", TokPath)
	case ShapeWord:
		p.want(d, "a name", TokWord)
	case ShapeIP:
		p.want(d, "an address", TokIPv4, TokIPv6)
	case ShapeBlock:
		p.lbrace(d, `"{"`)
		p.block(d, k.Path)
	case ShapeMode:
		m := p.want(d, "a mode name (FTFW, NOTRACK or ALARM)", TokMode)
		name, old := m.Mode()
		if old {
			p.warn(m.Pos, "old-mode-name", fmt.Sprintf("mode %s is now called %s", m.Text, name),
				"conntrackd 1.4.7 warns: \"Now `"+strings.ToLower(m.Text)+"' mode is called `"+strings.ToLower(name)+"'\"")
		}
		if m.Text == "persistenT" || strings.ContainsRune(m.Text, '|') {
			p.quirk(m.Pos, "persistent-case", fmt.Sprintf("mode name %q is read as %s", m.Text, name), "write "+name)
		}
		p.lbrace(d, `"{"`)
		p.block(d, "Sync.Mode "+name)
	case ShapeLink:
		if t := p.at(); t.Kind == TokKeyword && t.Text == "Default" {
			p.take(d)
		}
		p.lbrace(d, `"Default" or "{"`)
		p.block(d, k.Path)
	case ShapeFilter:
		if t := p.at(); t.Kind == TokKeyword && t.Text == "From" {
			p.take(d)
			p.wantWord(d, "Userspace or Kernelspace", "Userspace", "Kernelspace")
		}
		p.lbrace(d, `"From" or "{"`)
		p.block(d, k.Path)
	case ShapeAddressSet:
		p.wantWord(d, "Accept or Ignore", "Accept", "Ignore")
		p.lbrace(d, `"{"`)
		p.block(d, k.Path)
	case ShapeProtocolSet:
		p.wantWord(d, "Accept or Ignore", "Accept", "Ignore")
		p.items(d, "a protocol name", func(t Token) bool {
			return t.Kind == TokWord || t.Kind == TokKeyword && (t.Text == "TCP" || t.Text == "UDP")
		})
	case ShapeStateSet:
		p.wantWord(d, "Accept or Ignore", "Accept", "Ignore")
		p.stateList(d)
	case ShapeBoolOrList:
		if p.at().Kind == TokBool {
			p.take(d)
			break
		}
		if p.tok.Kind != TokLBrace {
			p.expected(d, `on, off or "{"`, TokBool)
		}
		p.items(d, "a helper name", func(t Token) bool { return t.Kind == TokWord })
	case ShapeHelperType:
		p.want(d, "a helper name", TokWord)
		p.want(d, "inet or inet6", TokWord)
		p.want(d, "tcp or udp", TokWord)
		p.lbrace(d, `"{"`)
		p.block(d, "Helper.Type")
	case ShapePolicy:
		p.want(d, "a policy name", TokWord)
		p.lbrace(d, `"{"`)
		p.block(d, "Helper.Type.Policy")
	case ShapeProtoList:
		p.items(d, "a protocol name or number", func(t Token) bool {
			return t.Kind == TokWord || t.Kind == TokNumber || t.Kind == TokKeyword && (t.Text == "TCP" || t.Text == "UDP")
		})
	case ShapeReplicate:
		for t := p.at(); t.Kind == TokKeyword && tcpStates[t.Text]; t = p.at() {
			p.take(d)
		}
		if t := p.at(); !(t.Kind == TokKeyword && t.Text == "for") {
			p.expected(d, "a TCP state or \"for\"")
		}
		p.take(d)
		if t := p.at(); !(t.Kind == TokWord || t.Kind == TokKeyword && t.Text == "TCP") {
			p.expected(d, "a protocol name", TokWord)
		}
		p.take(d)
	}
	p.leaf(k, d)
}

// stateList parses "{ STATE... for TCP ... }".
func (p *parser) stateList(d *Directive) {
	p.lbrace(d, `"{"`)
	p.open(d)
	pending := 0
	for {
		t := p.at()
		switch {
		case t.Kind == TokKeyword && tcpStates[t.Text]:
			d.Block = append(d.Block, &Directive{Path: d.Path + "[]", Pos: t.Pos, End: t.Pos, Item: true, Args: []Token{t}})
			pending++
			p.next()
		case t.Kind == TokKeyword && t.Text == "for":
			it := &Directive{Path: d.Path + "[]", Pos: t.Pos, Item: true, Args: []Token{t}}
			d.Block = append(d.Block, it)
			p.next()
			if u := p.at(); !(u.Kind == TokKeyword && u.Text == "TCP") {
				p.expected(&Directive{Keyword: "for"}, "TCP", TokKeyword)
			}
			it.Args = append(it.Args, p.tok)
			it.End = p.tok.Pos
			p.next()
			pending = 0
		case t.Kind == TokRBrace && pending == 0:
			d.End = t.Pos
			p.next()
			p.close(d)
			return
		case t.Kind == TokRBrace:
			p.fail(t.Pos, "syntax", "expected \"for TCP\" after the states, found \"}\"",
				"every group of states ends with \"for TCP\": State Accept { ESTABLISHED for TCP }")
		default:
			p.fail(t.Pos, "syntax", fmt.Sprintf("expected a TCP state, \"for TCP\" or \"}\" in State, found %s", describe(t)),
				"states: SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE CLOSED LISTEN (upper case)")
		}
	}
}

// attachComments gives each directive the comment ending its first line and
// the comment lines directly above it.
func attachComments(f *File) {
	if len(f.Comments) == 0 {
		return
	}
	var all []*Directive
	f.Walk(func(d *Directive) bool {
		all = append(all, d)
		return true
	})
	// lineOwner: the innermost (last starting) directive on each line.
	lineOwner := map[int]*Directive{}
	endOwner := map[int]*Directive{}
	for _, d := range all {
		if !d.Item || lineOwner[d.Pos.Line] == nil {
			lineOwner[d.Pos.Line] = d
		}
		if endOwner[d.End.Line] == nil {
			endOwner[d.End.Line] = d
		}
	}
	// Lines holding tokens, to tell trailing comments from comment lines.
	codeLines := map[int]bool{}
	for _, d := range all {
		codeLines[d.Pos.Line] = true
		codeLines[d.End.Line] = true
		for _, a := range d.Args {
			codeLines[a.Pos.Line] = true
		}
	}
	commentAt := map[int]int{}
	for i, c := range f.Comments {
		commentAt[c.Pos.Line] = i
	}
	for i := range f.Comments {
		c := &f.Comments[i]
		if c.Pos.Column > 1 && codeLines[c.Pos.Line] {
			d := lineOwner[c.Pos.Line]
			if d == nil {
				d = endOwner[c.Pos.Line]
			}
			if d != nil && d.LineComment == nil && d.Pos.Column < c.Pos.Column {
				d.LineComment = c
			}
		}
	}
	for _, d := range all {
		if d.Item {
			continue
		}
		var lead []Comment
		for l := d.Pos.Line - 1; l > 0; l-- {
			i, ok := commentAt[l]
			if !ok || codeLines[l] {
				break
			}
			lead = append([]Comment{f.Comments[i]}, lead...)
		}
		d.LeadComments = lead
	}
}
