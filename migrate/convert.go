package migrate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/ipproto"
)

// Convert translates a parsed legacy file into the ctsync model, with the
// meaning conntrackd 1.4.7 gives it (last scalar wins, sets merge, one
// policy per filter set). The model's source ranges point into the legacy
// file, so validating the result reports legacy lines. Comments of the
// legacy file come back keyed by model path, for the writers. Everything
// dropped or changed in meaning gets a located warning; what cannot be
// translated at all is an error.
func Convert(lf *File) (*config.File, config.Comments, config.Diagnostics) {
	c := &converter{
		file:     &config.File{Syntax: config.SyntaxLegacy, Source: lf.Source},
		comments: config.Comments{},
		legacy:   lf,
	}
	c.file.Node.Attrs = map[string]hcl.Range{}
	// conntrackd takes any bytes in a path or name; ctsync configurations
	// are UTF-8 text, and a value cannot be escaped the way a comment is.
	lf.Walk(func(d *Directive) bool {
		for _, t := range d.Args {
			if !utf8.ValidString(t.Text) {
				c.diags.Add(t.Pos, config.Error, "encoding",
					"ctsync configurations are UTF-8 text; convert the file (iconv -f latin1 -t utf-8) or fix the value",
					"%q is not valid UTF-8", t.Text)
			}
		}
		return true
	})
	if c.diags.HasErrors() {
		c.diags.AttachSource(lf.Source)
		return c.file, c.comments, c.diags
	}
	for _, d := range lf.Directives {
		c.top(d)
	}
	c.finish()
	c.placeComments()
	c.diags.AttachSource(lf.Source)
	return c.file, c.comments, c.diags
}

type converter struct {
	file     *config.File
	comments config.Comments
	diags    config.Diagnostics
	legacy   *File
	// placed holds the legacy comments noted on a model path, by position.
	placed map[config.Pos]bool
	// pathOf is the model path each noted directive went to.
	pathOf map[*Directive]string

	// Filter sets accumulate over the whole file, each with one policy:
	// the last one read, as conntrackd does.
	sets map[string]*filterSet
	// setOrder is the order in which the sets first appeared.
	setOrder []string

	hashSize, hashLimit *int64
	hashPos             [2]*Directive
	disableInternal     *Directive
	disableExternal     *Directive
	modes               []*modeBlock
	syncChecksum        *Directive
	firstSync           *Directive
	links               []*linkRef
}

type filterSet struct {
	kind   string // protocol, address, tcp_state
	policy string // accept, ignore
	items  []string
	// comments on items, by index
	itemComments map[int]string
	decl         *Directive
}

type modeBlock struct {
	name string // ftfw, notrack, alarm
	d    *Directive
}

type linkRef struct {
	link *config.Link
	d    *Directive
}

// rng converts a legacy position into an HCL range for the model's nodes.
func rng(p config.Pos) hcl.Range {
	pos := hcl.Pos{Line: p.Line, Column: p.Column}
	return hcl.Range{Filename: p.File, Start: pos, End: pos}
}

// warn and fail report at a directive, the converter's unit of work.
func (c *converter) warn(d *Directive, code, format string, args ...any) {
	c.diags.Add(d.Pos, config.Warning, code, "", format, args...)
}

func (c *converter) fail(d *Directive, code, format string, args ...any) {
	c.diags.Add(d.Pos, config.Error, code, "", format, args...)
}

// note records a legacy comment for a model path.
func (c *converter) note(path string, d *Directive) {
	c.locate(path, d)
	cm := c.comments[path]
	for _, l := range d.LeadComments {
		cm.Lead = append(cm.Lead, commentText(l))
		c.place(l)
	}
	if d.LineComment != nil {
		c.place(*d.LineComment)
		if cm.Line != "" {
			cm.Line += "; "
		}
		cm.Line += commentText(*d.LineComment)
	}
	if len(cm.Lead) > 0 || cm.Line != "" {
		c.comments[path] = cm
	}
}

// locate records the model path that directive d became, for the
// comments at the end of its block.
func (c *converter) locate(path string, d *Directive) {
	if c.pathOf == nil {
		c.pathOf = map[*Directive]string{}
	}
	c.pathOf[d] = path
}

func (c *converter) place(cm Comment) {
	if c.placed == nil {
		c.placed = map[config.Pos]bool{}
	}
	c.placed[cm.Pos] = true
}

// placeComments makes sure no legacy comment is lost. Comments noted on
// a path the model does not have move to the nearest enclosing item (the
// Sync section's are noted under "sync" before its mode is known). Comments
// that no item took (on a section that has no block of its own, commented-
// out options) stay at the end of the block they were written at the end
// of (after a section's last line, before its "}"); the others go above
// the item that follows them in the file, or to the end of the output;
// those above the first section to the file's header.
func (c *converter) placeComments() {
	syncPath := func(p string) string { return p }
	if s := c.file.Sync; s != nil {
		mode := config.Block("sync", s.Mode)
		c.renamePrefix("sync", mode)
		syncPath = func(p string) string {
			if p == "sync" || strings.HasPrefix(p, "sync.") {
				return mode + strings.TrimPrefix(p, "sync")
			}
			return p
		}
	}
	offered := map[string]bool{}
	for _, p := range config.CommentPaths(c.file) {
		offered[p] = true
	}
	var keys []string
	for k := range c.comments {
		if !offered[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		cm := c.comments[k]
		delete(c.comments, k)
		to := k
		for !offered[to] {
			to = parentPath(to)
		}
		dst := c.comments[to]
		dst.Lead = append(dst.Lead, cm.Lead...)
		if cm.Line != "" {
			dst.Lead = append(dst.Lead, cm.Line)
		}
		c.comments[to] = dst
	}

	// Comments above the first section, but not directly above it,
	// describe the file: they stay in the file's header.
	first := 0
	if len(c.legacy.Directives) > 0 {
		first = c.legacy.Directives[0].Pos.Line
		commentAt := map[int]bool{}
		for _, cm := range c.legacy.Comments {
			commentAt[cm.Pos.Line] = true
		}
		for first > 1 && commentAt[first-1] {
			first--
		}
	}
	places := config.Places(c.file)
	sort.SliceStable(places, func(i, j int) bool { return places[i].Line < places[j].Line })
	tails := c.blockTails(offered, syncPath)
	inserted := map[string]int{}
	for _, cm := range c.legacy.Comments {
		if c.placed[cm.Pos] {
			continue
		}
		text := commentText(cm)
		if to, ok := tailOf(tails, cm.Pos); ok {
			dst := c.comments[to]
			dst.Foot = append(dst.Foot, text)
			c.comments[to] = dst
			continue
		}
		if cm.Pos.Line < first {
			h := c.comments[""]
			h.Lead = append(h.Lead, text)
			c.comments[""] = h
			continue
		}
		i := sort.Search(len(places), func(i int) bool { return places[i].Line >= cm.Pos.Line })
		for i < len(places) && places[i].Line == 0 {
			i++
		}
		if i == len(places) {
			h := c.comments[""]
			h.Foot = append(h.Foot, text)
			c.comments[""] = h
			continue
		}
		to := places[i].Path
		dst := c.comments[to]
		n := inserted[to]
		dst.Lead = append(dst.Lead[:n:n], append([]string{text}, dst.Lead[n:]...)...)
		inserted[to] = n + 1
		c.comments[to] = dst
	}
}

// blockTail is the end of a legacy section, after its last line: a
// comment there belongs to the model block the section became.
type blockTail struct {
	after, end config.Pos // after the last child (or the header), up to "}"
	path       string
}

// blockTails lists, innermost first, the tails of sections whose model
// path the writers offer; a section with no path of its own (General)
// lends its tail to no block.
func (c *converter) blockTails(offered map[string]bool, rename func(string) string) []blockTail {
	var out []blockTail
	c.legacy.Walk(func(d *Directive) bool {
		if !d.HasBlock || d.Item {
			return true
		}
		path, ok := c.pathOf[d]
		if !ok {
			return true
		}
		path = rename(path)
		if !offered[path] {
			return true
		}
		after := d.Pos
		if n := len(d.Block); n > 0 {
			after = d.Block[n-1].End
		}
		out = append(out, blockTail{after: after, end: d.End, path: path})
		return true
	})
	// Walk lists parents first; an inner section's tail is more specific.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// tailOf finds the innermost section tail that holds position p.
func tailOf(tails []blockTail, p config.Pos) (string, bool) {
	for _, t := range tails {
		if t.after.File == p.File && before(t.after, p) && before(p, t.end) {
			return t.path, true
		}
	}
	return "", false
}

func before(a, b config.Pos) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

// renamePrefix moves comments noted under path old (and below it) to new.
func (c *converter) renamePrefix(old, new string) {
	var keys []string
	for k := range c.comments {
		if k == old || strings.HasPrefix(k, old+".") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.comments[new+strings.TrimPrefix(k, old)] = c.comments[k]
		delete(c.comments, k)
	}
}

// parentPath is the path of the item enclosing path; the file header's
// for a top-level item.
func parentPath(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// commentText is a legacy comment as it can be carried into HCL or YAML:
// control characters and invalid UTF-8 (which YAML does not allow in a
// comment, and which are no one's intent) are shown as \xNN.
func commentText(cm Comment) string {
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cm.Text), "#"))
	var b strings.Builder
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r < 0x20 && r != '\t' || r == 0x7f || r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, "\\x%02x", text[i])
		} else {
			b.WriteString(text[i : i+size])
		}
		i += size
	}
	return b.String()
}

// arg returns the first value token of d.
func arg(d *Directive) (Token, bool) {
	if len(d.Args) == 0 {
		return Token{}, false
	}
	return d.Args[0], true
}

func argText(d *Directive) string {
	t, _ := arg(d)
	return t.Text
}

// num reads an unsigned value as conntrackd does (atoi: no range check, so
// very large numbers wrap; the parser already warned about that).
func num(d *Directive) int64 {
	n, _ := strconv.ParseInt(argText(d), 10, 64)
	return n
}

// boolean reads on/off/yes/no in any case; the stray '|' that conntrackd's
// scanner accepts counts by the first letter, as conntrackd's action does.
func boolean(d *Directive) bool {
	t := strings.ToLower(argText(d))
	return strings.HasPrefix(t, "on") || strings.HasPrefix(t, "y") || t == "o|" || t == "|n"
}

func isBoolToken(d *Directive) bool {
	t, ok := arg(d)
	return ok && t.Kind == TokBool
}

func ptr[T any](v T) *T { return &v }

func seconds(n int64) *string { return ptr(config.FormatSeconds(secondsDur(n))) }

func (c *converter) attr(n *config.Node, name string, d *Directive) {
	if n.Attrs == nil {
		n.Attrs = map[string]hcl.Range{}
	}
	r := rng(d.Pos)
	if t, ok := arg(d); ok {
		r = rng(t.Pos)
	}
	n.Attrs[name] = r
}

func (c *converter) top(d *Directive) {
	switch d.Keyword {
	case "General":
		c.general(d)
	case "Sync":
		c.sync(d)
	case "Stats":
		c.stats(d)
	case "Helper":
		c.helper(d)
	case "IgnoreProtocol":
		c.warn(d, "removed-keyword", "IgnoreProtocol was removed in conntrackd 1.4.5; translated to a protocol filter stage with an ignore list")
		c.addSet(d, "protocol", "ignore", d, false)
	case "IgnoreTrafficFor":
		c.warn(d, "removed-keyword", "IgnoreTrafficFor was removed in conntrackd 1.4.5; translated to an address filter stage with an ignore list")
		c.addSet(d, "address", "ignore", d, false)
	default:
		c.dropped(d)
	}
}

// dropped reports a keyword that has no home in the model, with the reason
// from the mapping table.
func (c *converter) dropped(d *Directive) {
	m, ok := MappingFor(d.Path)
	reason := "it has no meaning in ctsync"
	if ok && m.Note != "" {
		reason = strings.TrimSuffix(m.Note, "; dropped with a warning")
	}
	c.warn(d, "dropped", "%s is dropped: %s", d.Keyword, reason)
}

// daemon returns the daemon block, made at the first legacy option
// that goes into it, which is where diagnostics about the block point.
func (c *converter) daemon(at *Directive) *config.Daemon {
	if c.file.Daemon == nil {
		c.file.Daemon = &config.Daemon{Node: config.Node{DefRange: rng(at.Pos)}}
	}
	return c.file.Daemon
}

// log returns the log block, made at the first legacy option
// that goes into it, which is where diagnostics about the block point.
func (c *converter) log(at *Directive) *config.Log {
	if c.file.Log == nil {
		c.file.Log = &config.Log{Node: config.Node{DefRange: rng(at.Pos)}}
	}
	return c.file.Log
}

// netlink returns the netlink block, made at the first legacy option
// that goes into it, which is where diagnostics about the block point.
func (c *converter) netlink(at *Directive) *config.Netlink {
	if c.file.Netlink == nil {
		c.file.Netlink = &config.Netlink{Node: config.Node{DefRange: rng(at.Pos)}}
	}
	return c.file.Netlink
}

func (c *converter) general(g *Directive) {
	for _, d := range g.Block {
		c.generalOption(d)
	}
}

// generalOption converts one option of General (or one that the lenient
// parser found misplaced and resolved to General).
func (c *converter) generalOption(d *Directive) {
	switch d.Keyword {
	case "HashSize":
		c.hashSize, c.hashPos[0] = ptr(num(d)), d
	case "HashLimit":
		c.hashLimit, c.hashPos[1] = ptr(num(d)), d
	case "LogFile":
		l := c.log(d)
		if isBoolToken(d) {
			l.File = nil
			if boolean(d) {
				l.File = ptr(config.Defaults.LogFile)
			}
		} else {
			l.File = ptr(argText(d))
		}
		c.attr(&l.Node, "file", d)
		c.note("log.file", d)
	case "Syslog":
		l := c.log(d)
		l.Syslog = syslogFacility(d)
		c.attr(&l.Node, "syslog", d)
		c.note("log.syslog", d)
	case "LockFile":
		dm := c.daemon(d)
		dm.LockFile = ptr(argText(d))
		c.attr(&dm.Node, "lock_file", d)
		c.note("daemon.lock_file", d)
	case "UNIX":
		if c.file.Control == nil {
			c.file.Control = &config.Control{Node: config.Node{DefRange: rng(d.Pos)}}
		}
		c.note("control", d)
		for _, u := range d.Block {
			switch u.Keyword {
			case "Path":
				c.file.Control.Path = ptr(argText(u))
				c.attr(&c.file.Control.Node, "path", u)
				c.note("control.path", u)
			default:
				c.dropped(u)
			}
		}
	case "NetlinkBufferSize", "SocketBufferSize":
		n := c.netlink(d)
		n.BufferSize = ptr(config.FormatSize(uint64(num(d))))
		c.attr(&n.Node, "buffer_size", d)
		c.note("netlink.buffer_size", d)
	case "NetlinkBufferSizeMaxGrowth", "SocketBufferSizeMaxGrown", "SocketBufferSizeMaxGrowth":
		n := c.netlink(d)
		n.BufferSizeMaxGrowth = ptr(config.FormatSize(uint64(num(d))))
		c.attr(&n.Node, "buffer_size_max_growth", d)
		c.note("netlink.buffer_size_max_growth", d)
	case "NetlinkOverrunResync":
		n := c.netlink(d)
		switch {
		case isBoolToken(d) && !boolean(d):
			n.OverrunResync = ptr("off")
		case isBoolToken(d) || num(d) == 0:
			n.OverrunResync = ptr(config.FormatSeconds(config.Defaults.NetlinkOverrunResync))
		default:
			n.OverrunResync = seconds(num(d))
		}
		c.attr(&n.Node, "overrun_resync", d)
		c.note("netlink.overrun_resync", d)
	case "NetlinkEventsReliable":
		n := c.netlink(d)
		n.EventsReliable = ptr(boolean(d))
		c.attr(&n.Node, "events_reliable", d)
		c.note("netlink.events_reliable", d)
	case "PollSecs":
		dm := c.daemon(d)
		dm.PollInterval = seconds(num(d))
		c.attr(&dm.Node, "poll_interval", d)
		c.note("daemon.poll_interval", d)
	case "EventIterationLimit":
		dm := c.daemon(d)
		dm.EventIterationLimit = ptr(num(d))
		c.attr(&dm.Node, "event_iteration_limit", d)
		c.note("daemon.event_iteration_limit", d)
	case "Systemd":
		dm := c.daemon(d)
		dm.Systemd = ptr(boolean(d))
		c.attr(&dm.Node, "systemd", d)
		c.note("daemon.systemd", d)
	case "Scheduler":
		c.scheduler(d)
	case "Filter":
		c.filter(d)
	default:
		c.dropped(d)
	}
}

func syslogFacility(d *Directive) *string {
	if isBoolToken(d) {
		if boolean(d) {
			return ptr(config.Defaults.SyslogFacility.String())
		}
		return nil
	}
	return ptr(argText(d))
}

func (c *converter) scheduler(s *Directive) {
	var typ, prio *Directive
	for _, d := range s.Block {
		switch d.Keyword {
		case "Type":
			typ = d
		case "Priority":
			prio = d
		default:
			c.dropped(d)
		}
	}
	if typ == nil && prio == nil {
		return
	}
	// conntrackd 1.4.7 does not apply what half a Scheduler block says
	// (src/read_config_yy.y, src/main.c): a Priority without Type is
	// ignored (RR at 99 runs), a Type without Priority asks for priority
	// 0, which the kernel refuses for real-time policies, so the normal
	// scheduler runs. ctsync applies what the file asks, with the
	// default for the half not written, and says what conntrackd did.
	sc := &config.Scheduler{Node: config.Node{DefRange: rng(s.Pos)}}
	if typ != nil {
		sc.Policy = ptr(strings.ToLower(argText(typ)))
		c.attr(&sc.Node, "policy", typ)
		c.note("scheduler.policy", typ)
	}
	if prio != nil {
		sc.Priority = ptr(num(prio))
		c.attr(&sc.Node, "priority", prio)
		c.note("scheduler.priority", prio)
	}
	switch {
	case typ == nil:
		c.warn(prio, "legacy-quirk", "conntrackd 1.4.7 ignores Priority without Type and runs %s at priority %d; ctsync applies priority %d with the default policy, %s",
			strings.ToUpper(config.Defaults.SchedulerPolicy.String()), config.Defaults.SchedulerPriority, *sc.Priority, strings.ToUpper(config.Defaults.SchedulerPolicy.String()))
	case prio == nil:
		c.warn(typ, "legacy-quirk", "conntrackd 1.4.7 asks for priority 0 with Type alone, which the kernel refuses, and runs with the normal scheduler; ctsync applies %s at the default priority, %d",
			strings.ToUpper(*sc.Policy), config.Defaults.SchedulerPriority)
	}
	c.file.Scheduler = sc
	c.note("scheduler", s)
}

func (c *converter) filter(f *Directive) {
	if c.file.Filter == nil {
		c.file.Filter = &config.Filter{Node: config.Node{DefRange: rng(f.Pos)}}
	}
	// The From choice is one global flag: the last Filter header wins.
	runIn := "user"
	for _, t := range f.Args {
		if t.Text == "Kernelspace" {
			runIn = "kernel"
		}
	}
	c.file.Filter.RunIn = ptr(runIn)
	c.attr(&c.file.Filter.Node, "run_in", f)
	c.note("filter", f)
	for _, d := range f.Block {
		policy := strings.ToLower(argText(d))
		switch d.Keyword {
		case "Protocol":
			c.addSet(d, "protocol", policy, d, true)
		case "Address":
			c.addSet(d, "address", policy, d, true)
		case "State":
			c.addSet(d, "tcp_state", policy, d, true)
		default:
			c.dropped(d)
		}
	}
}

// addSet adds the items of block d to the filter set of kind. With
// setPolicy, the block's policy replaces the set's (conntrackd keeps one
// policy per set: the last one read).
func (c *converter) addSet(at *Directive, kind, policy string, d *Directive, setPolicy bool) {
	if c.sets == nil {
		c.sets = map[string]*filterSet{}
	}
	s := c.sets[kind]
	if s == nil {
		s = &filterSet{kind: kind, policy: policy, itemComments: map[int]string{}, decl: at}
		c.sets[kind] = s
		c.setOrder = append(c.setOrder, kind)
	} else if setPolicy && s.policy != policy {
		c.warn(at, "legacy-quirk", "%s %s merges with the earlier %s %s block at %s into one set: conntrackd keeps one policy per set, the last one read (%s)",
			d.Keyword, titleWord(policy), d.Keyword, titleWord(s.policy), s.decl.Pos, policy)
	}
	if setPolicy {
		s.policy = policy
	}
	for _, it := range setItems(d) {
		v, ok := c.item(kind, it)
		if !ok {
			continue
		}
		if it.comment != "" {
			s.itemComments[len(s.items)] = it.comment
			c.place(*it.d.LineComment)
		}
		s.items = append(s.items, v)
	}
	if at.LineComment != nil || len(at.LeadComments) > 0 {
		c.note("filter.stage["+kind+"]", at)
	}
	c.locate("filter.stage["+kind+"]", d)
}

func titleWord(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

type setItem struct {
	tok     Token
	kw      string // IPv4_address / IPv6_address for address items
	comment string
	d       *Directive
}

// item translates one set member into the model's spelling.
func (c *converter) item(kind string, it setItem) (string, bool) {
	switch kind {
	case "protocol":
		name, ok := protocolName(it.tok.Text)
		if !ok {
			c.diags.Add(it.tok.Pos, config.Warning, "unknown-protocol", "",
				"protocol %q is not in /etc/protocols; conntrackd skips it, so does migrate%s", it.tok.Text, protocolFold(it.tok.Text))
			return "", false
		}
		return name, true
	case "address":
		return it.tok.Text, true
	case "tcp_state":
		return tcpState(it.tok.Text), true
	}
	return "", false
}

// tcpState maps a legacy state word to the model's lower-case name.
func tcpState(w string) string {
	switch w {
	case "CLOSED":
		return "close"
	}
	return strings.ToLower(w)
}

func (c *converter) finish() {
	// conntrackd runs FTFW when no Sync section has a Mode ("No
	// synchronization mode specified. Defaulting to FT-FW mode.").
	if c.firstSync != nil {
		if sb := c.syncBlock(c.firstSync); sb.Mode == "" {
			sb.Mode = "ftfw"
			c.warn(c.firstSync, "default-mode", "Sync has no Mode block; conntrackd runs FTFW then, and so does ctsync: written as sync \"ftfw\"")
		}
	}

	// Filter stages, in the order their sets first appeared.
	if c.file.Filter == nil && len(c.setOrder) > 0 {
		c.file.Filter = &config.Filter{RunIn: ptr(config.Defaults.FilterRunIn.String()), Node: config.Node{DefRange: rng(c.sets[c.setOrder[0]].decl.Pos)}}
	}
	for _, kind := range c.setOrder {
		s := c.sets[kind]
		st := config.Stage{Kind: kind, Node: config.Node{DefRange: rng(s.decl.Pos), Attrs: map[string]hcl.Range{}}}
		items := s.items
		if items == nil {
			items = []string{}
		}
		if s.policy == "accept" {
			st.Accept = items
			st.Node.Attrs["accept"] = rng(s.decl.Pos)
		} else {
			st.Ignore = items
			st.Node.Attrs["ignore"] = rng(s.decl.Pos)
		}
		for i, cm := range s.itemComments {
			key := fmt.Sprintf("filter.stage[%s].%s[%d]", kind, s.policy, i)
			c.comments[key] = config.Comment{Line: cm}
		}
		c.file.Filter.Stages = append(c.file.Filter.Stages, st)
	}

	// Cache tiers: HashSize/HashLimit apply to every tier; the Disable*
	// options of the mode block switch one off.
	if c.hashSize != nil || c.hashLimit != nil || c.disableInternal != nil || c.disableExternal != nil {
		for _, tier := range []string{"internal", "external"} {
			cc := config.Cache{Tier: tier, Size: c.hashSize, Limit: c.hashLimit, Node: config.Node{Attrs: map[string]hcl.Range{}}}
			if c.hashPos[0] != nil {
				c.attr(&cc.Node, "size", c.hashPos[0])
				c.note("cache["+tier+"].size", c.hashPos[0])
			}
			if c.hashPos[1] != nil {
				c.attr(&cc.Node, "limit", c.hashPos[1])
				c.note("cache["+tier+"].limit", c.hashPos[1])
			}
			dis := c.disableInternal
			if tier == "external" {
				dis = c.disableExternal
			}
			if dis != nil {
				cc.Enabled = ptr(!boolean(dis))
				c.attr(&cc.Node, "enabled", dis)
				c.note("cache["+tier+"].enabled", dis)
			}
			if cc.Size != nil || cc.Limit != nil || cc.Enabled != nil {
				c.file.Caches = append(c.file.Caches, cc)
			}
		}
		// The comments were noted twice (one per tier); keep them on the first.
		for _, k := range []string{"size", "limit"} {
			if _, ok := c.comments["cache[internal]."+k]; ok {
				delete(c.comments, "cache[external]."+k)
			}
		}
	}

	// Sync-level Checksum of 1.4.0-1.4.4 applied to the first link.
	if c.syncChecksum != nil && len(c.links) > 0 {
		l := c.links[0].link
		if l.Checksum == nil {
			l.Checksum = ptr(boolean(c.syncChecksum))
			c.attr(&l.Node, "checksum", c.syncChecksum)
		}
	}
	for _, lr := range c.links {
		c.file.Links = append(c.file.Links, *lr.link)
	}
	c.nameLinks()
}

// nameLinks names the links by their role, as an operator describes a
// redundant pair: the link the daemon uses at start (the one marked
// Default, else the first, as conntrackd's multichannel does) is
// "primary", the others are fail-over links, "backup", "backup2", ... in
// file order. Interface names ("ens7f1.57") say where a link runs, which
// the interface attribute already says, not what it is for.
func (c *converter) nameLinks() {
	primary := 0
	for i, l := range c.file.Links {
		if l.Default != nil && *l.Default {
			primary = i
			break
		}
	}
	backups := 0
	for i := range c.file.Links {
		l := &c.file.Links[i]
		name := "primary"
		if i != primary {
			backups++
			name = "backup"
			if backups > 1 {
				name = fmt.Sprintf("backup%d", backups)
			}
		}
		old := l.Name
		l.Name = name
		c.renameComments(old, name)
	}
}

// renameComments moves comments noted under a provisional link name.
func (c *converter) renameComments(old, name string) {
	prefix := "link[" + old + "]"
	var keys []string
	for k := range c.comments {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.comments["link["+name+"]"+strings.TrimPrefix(k, prefix)] = c.comments[k]
		delete(c.comments, k)
	}
	for d, p := range c.pathOf {
		if p == prefix || strings.HasPrefix(p, prefix+".") {
			c.pathOf[d] = "link[" + name + "]" + strings.TrimPrefix(p, prefix)
		}
	}
}

func (c *converter) sync(s *Directive) {
	if c.firstSync == nil {
		c.firstSync = s
	}
	for _, d := range s.Block {
		switch d.Keyword {
		case "Mode":
			c.mode(d)
		case "Multicast", "UDP", "TCP":
			c.link(d)
		case "Options":
			c.options(d)
		case "RefreshTime", "CacheTimeout", "CommitTimeout", "PurgeTimeout":
			c.syncDuration(d)
		case "Checksum":
			c.warn(d, "removed-keyword", "Checksum outside a link block was removed in conntrackd 1.4.5; applied to the first link, as 1.4.0-1.4.4 did")
			c.syncChecksum = d
		case "Replicate":
			c.replicate(d)
		default:
			c.dropped(d)
		}
	}
}

func (c *converter) syncBlock(at *Directive) *config.Sync {
	if c.file.Sync == nil {
		c.file.Sync = &config.Sync{Node: config.Node{DefRange: rng(at.Pos), Attrs: map[string]hcl.Range{}}}
	}
	return c.file.Sync
}

// mode handles a Mode block. Several Mode blocks are accepted by conntrackd;
// the first of FTFW, ALARM, NOTRACK present wins and the options of every
// block still apply.
func (c *converter) mode(m *Directive) {
	// The parser already warned about the old names NACK and PERSISTENT.
	name := modeName(argText(m))
	s := c.syncBlock(m)
	rank := map[string]int{"ftfw": 0, "alarm": 1, "notrack": 2}
	if s.Mode == "" || rank[name] < rank[s.Mode] {
		if s.Mode != "" {
			c.warn(m, "legacy-quirk", "several Mode blocks: conntrackd runs %s (FTFW before ALARM before NOTRACK); %s is dropped", strings.ToUpper(name), strings.ToUpper(s.Mode))
		}
		s.Mode = name
		s.Node.DefRange = rng(m.Pos)
	} else {
		c.warn(m, "legacy-quirk", "several Mode blocks: conntrackd runs %s (FTFW before ALARM before NOTRACK); this %s block only contributes its options", strings.ToUpper(s.Mode), strings.ToUpper(name))
	}
	c.modes = append(c.modes, &modeBlock{name: name, d: m})
	c.note("sync", m)
	for _, d := range m.Block {
		switch d.Keyword {
		case "ResendQueueSize":
			s.ResendQueueSize = ptr(num(d))
			c.attr(&s.Node, "resend_queue_size", d)
			c.note("sync.resend_queue_size", d)
		case "ACKWindowSize":
			s.ACKWindowSize = ptr(num(d))
			c.attr(&s.Node, "ack_window_size", d)
			c.note("sync.ack_window_size", d)
		case "StartupResync":
			s.StartupResync = ptr(boolean(d))
			c.attr(&s.Node, "startup_resync", d)
			c.note("sync.startup_resync", d)
		case "RefreshTime", "CacheTimeout", "CommitTimeout", "PurgeTimeout":
			c.syncDuration(d)
		case "DisableExternalCache":
			c.disableExternal = d
		case "DisableInternalCache":
			c.disableInternal = d
		case "ResendBufferSize":
			c.fail(d, "obsolete-keyword", "ResendBufferSize is a pre-1.0 keyword that conntrackd has ignored since; use ResendQueueSize, which counts objects (default %d), not bytes",
				config.Defaults.ResendQueueSize)
		default:
			c.dropped(d)
		}
	}
}

func modeName(w string) string {
	switch strings.ToUpper(w) {
	case "FTFW", "NACK":
		return "ftfw"
	case "ALARM", "PERSISTENT":
		return "alarm"
	}
	return "notrack"
}

func (c *converter) syncDuration(d *Directive) {
	s := c.syncBlock(d)
	v := seconds(num(d))
	var name string
	switch d.Keyword {
	case "RefreshTime":
		s.RefreshTime, name = v, "refresh_time"
	case "CacheTimeout":
		s.CacheTimeout, name = v, "cache_timeout"
	case "CommitTimeout":
		s.CommitTimeout, name = v, "commit_timeout"
	case "PurgeTimeout":
		s.PurgeTimeout, name = v, "purge_timeout"
	}
	c.attr(&s.Node, name, d)
	c.note("sync."+name, d)
}

func (c *converter) options(o *Directive) {
	s := c.syncBlock(o)
	for _, d := range o.Block {
		switch d.Keyword {
		case "TCPWindowTracking":
			s.TCPWindowTracking = ptr(boolean(d))
			c.attr(&s.Node, "tcp_window_tracking", d)
			c.note("sync.tcp_window_tracking", d)
		case "ExpectationSync":
			if isBoolToken(d) {
				s.ExpectationSync = ptr(boolean(d))
				s.ExpectationHelpers = nil
			} else {
				s.ExpectationSync = ptr(true)
				for _, it := range setItems(d) {
					s.ExpectationHelpers = append(s.ExpectationHelpers, it.tok.Text)
				}
				c.attr(&s.Node, "expectation_helpers", d)
			}
			c.attr(&s.Node, "expectation_sync", d)
			c.note("sync.expectation_sync", d)
		default:
			c.dropped(d)
		}
	}
}

// replicate translates 1.4.0-1.4.4's `Replicate STATES for WORD`.
func (c *converter) replicate(d *Directive) {
	c.warn(d, "removed-keyword", "Replicate was removed in conntrackd 1.4.5; its states become a tcp_state filter stage with an accept list")
	c.addSet(d, "tcp_state", "accept", d, false)
}

func (c *converter) link(l *Directive) {
	link := &config.Link{
		Transport: strings.ToLower(l.Keyword),
		Node:      config.Node{DefRange: rng(l.Pos), Attrs: map[string]hcl.Range{}},
	}
	provisional := fmt.Sprintf("#%d", len(c.links))
	link.Name = provisional
	base := "link[" + provisional + "]"
	for _, t := range l.Args {
		if t.Text == "Default" {
			link.Default = ptr(true)
			link.Node.Attrs["default"] = rng(t.Pos)
		}
	}
	c.note(base, l)
	set := func(field **string, name string, d *Directive, v string) {
		if *field != nil && name == "peer" {
			c.warn(d, "legacy-quirk", "a second destination address replaces the first (%s), as in conntrackd: a link has one peer", **field)
		}
		*field = ptr(v)
		c.attr(&link.Node, name, d)
		c.note(base+"."+name, d)
	}
	for _, d := range l.Block {
		switch d.Keyword {
		case "IPv4_address", "IPv6_address":
			if link.Transport == "multicast" {
				set(&link.Group, "group", d, argText(d))
			} else {
				set(&link.Local, "local", d, argText(d))
			}
		case "IPv4_Destination_Address", "IPv6_Destination_Address":
			set(&link.Peer, "peer", d, argText(d))
		case "IPv4_interface":
			set(&link.InterfaceAddress, "interface_address", d, argText(d))
		case "Interface":
			set(&link.Interface, "interface", d, argText(d))
		case "Group", "Port":
			link.Port = ptr(num(d))
			c.attr(&link.Node, "port", d)
			c.note(base+".port", d)
		case "SndSocketBuffer", "McastSndSocketBuffer":
			if d.Keyword != "SndSocketBuffer" {
				c.warn(d, "removed-keyword", "%s was removed in conntrackd 1.4.5; it is SndSocketBuffer", d.Keyword)
			}
			set(&link.SendBuffer, "send_buffer", d, config.FormatSize(uint64(num(d))))
		case "RcvSocketBuffer", "McastRcvSocketBuffer":
			if d.Keyword != "RcvSocketBuffer" {
				c.warn(d, "removed-keyword", "%s was removed in conntrackd 1.4.5; it is RcvSocketBuffer", d.Keyword)
			}
			set(&link.ReceiveBuffer, "receive_buffer", d, config.FormatSize(uint64(num(d))))
		case "Checksum":
			link.Checksum = ptr(boolean(d))
			c.attr(&link.Node, "checksum", d)
			c.note(base+".checksum", d)
		case "ErrorQueueLength":
			link.ErrorQueueLength = ptr(num(d))
			c.attr(&link.Node, "error_queue_length", d)
			c.note(base+".error_queue_length", d)
		default:
			c.dropped(d)
		}
	}
	c.links = append(c.links, &linkRef{link: link, d: l})
}

func (c *converter) stats(s *Directive) {
	if c.file.Stats == nil {
		c.file.Stats = &config.Stats{Node: config.Node{DefRange: rng(s.Pos), Attrs: map[string]hcl.Range{}}}
	}
	st := c.file.Stats
	c.note("stats", s)
	for _, d := range s.Block {
		switch d.Keyword {
		case "LogFile":
			st.LogFile = nil
			if !isBoolToken(d) {
				st.LogFile = ptr(argText(d))
			} else if boolean(d) {
				st.LogFile = ptr(config.Defaults.StatsLogFile)
			}
			c.attr(&st.Node, "log_file", d)
			c.note("stats.log_file", d)
		case "Syslog":
			st.Syslog = syslogFacility(d)
			c.attr(&st.Node, "syslog", d)
			c.note("stats.syslog", d)
		default:
			if strings.HasPrefix(d.Path, "General.") {
				c.generalOption(d)
				continue
			}
			c.dropped(d)
		}
	}
}

func (c *converter) helper(h *Directive) {
	if c.file.Helpers == nil {
		c.file.Helpers = &config.Helpers{Node: config.Node{DefRange: rng(h.Pos), Attrs: map[string]hcl.Range{}}}
	}
	hs := c.file.Helpers
	c.note("helpers", h)
	for _, d := range h.Block {
		switch d.Keyword {
		case "Setup":
			hs.Setup = ptr(boolean(d))
			c.attr(&hs.Node, "setup", d)
			c.note("helpers.setup", d)
		case "Type":
			c.helperType(d, d)
		default:
			c.dropped(d)
		}
	}
}

func (c *converter) helperType(t, outer *Directive) {
	hs := c.file.Helpers
	hp := config.Helper{Node: config.Node{DefRange: rng(t.Pos), Attrs: map[string]hcl.Range{}}}
	if len(t.Args) >= 3 {
		hp.Name, hp.Family, hp.Protocol = t.Args[0].Text, t.Args[1].Text, t.Args[2].Text
		hp.Node.Labels = []hcl.Range{rng(t.Args[0].Pos), rng(t.Args[1].Pos), rng(t.Args[2].Pos)}
	}
	// The labels are unique in a valid file; a repeated Type (which
	// validation refuses) still gets its comments.
	n := 1
	for _, o := range hs.Helper {
		if o.Name == hp.Name && o.Family == hp.Family && o.Protocol == hp.Protocol {
			n++
		}
	}
	key := config.Path("helpers", config.BlockN("helper", hp.Name+","+hp.Family+","+hp.Protocol, n))
	c.note(key, t)
	var nested []*Directive
	for _, d := range t.Block {
		switch d.Keyword {
		case "QueueNum":
			hp.QueueNum = ptr(num(d))
			c.attr(&hp.Node, "queue_num", d)
			c.note(key+".queue_num", d)
		case "QueueLen":
			hp.QueueLen = ptr(num(d))
			c.attr(&hp.Node, "queue_len", d)
			c.note(key+".queue_len", d)
		case "Policy":
			p := config.HelperPolicy{Name: argText(d), Node: config.Node{DefRange: rng(d.Pos), Attrs: map[string]hcl.Range{}}}
			for _, pd := range d.Block {
				switch pd.Keyword {
				case "ExpectMax":
					p.ExpectMax = ptr(num(pd))
					c.attr(&p.Node, "expect_max", pd)
				case "ExpectTimeout":
					p.ExpectTimeout = seconds(num(pd))
					c.attr(&p.Node, "expect_timeout", pd)
				default:
					c.dropped(pd)
				}
			}
			if p.ExpectMax == nil || p.ExpectTimeout == nil {
				c.warn(d, "legacy-quirk", "policy %q sets only some fields; conntrackd sets the others to 0, and so does ctsync", p.Name)
			}
			hp.Policies = append(hp.Policies, p)
		case "Type":
			// conntrackd accepts a Type nested in a Type and collects its
			// options into the outer one's stack; ctsync makes it a helper of
			// its own, which is what the author meant.
			c.warn(d, "legacy-quirk", "a Type block nested in another Type block is written as a helper of its own")
			nested = append(nested, d)
		default:
			c.dropped(d)
		}
	}
	hs.Helper = append(hs.Helper, hp)
	for _, d := range nested {
		c.helperType(d, outer)
	}
}

// setItems returns the members of a set block: item directives (protocol
// names, state words, helper names) and address directives, with the
// comment on each member's line. "for TCP" markers are not members.
// Replicate (1.4.0-1.4.4) keeps its states in Args, before "for".
func setItems(d *Directive) []setItem {
	var out []setItem
	if d.Keyword == "Replicate" {
		for _, t := range d.Args {
			if t.Text == "for" {
				break
			}
			out = append(out, setItem{tok: t, d: d})
		}
		return out
	}
	for _, c := range d.Block {
		if len(c.Args) == 0 || c.Item && c.Args[0].Text == "for" {
			continue
		}
		it := setItem{tok: c.Args[0], d: c}
		if !c.Item {
			it.kw = c.Keyword
		}
		if c.LineComment != nil {
			it.comment = commentText(*c.LineComment)
		}
		out = append(out, it)
	}
	return out
}

// protocolName resolves a legacy protocol item (a name as getprotobyname
// knows it, the keywords TCP and UDP, or, in IgnoreProtocol, a number) to
// the model's spelling: the official name of the item's entry in
// /etc/protocols (IPSEC-ESP is esp; ip and hopopt, both 0, stay apart),
// for a number the first entry's name, or the number when no entry has it.
func protocolName(text string) (string, bool) {
	if _, err := strconv.Atoi(text); err != nil {
		e, ok := ipproto.ByName(text) // exact, as getprotobyname
		return e.Name, ok
	}
	_, name, ok := config.ProtocolName(text) // numbers as the model reads them
	return name, ok
}
