package migrate

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ctsync/ctsync/config"
	"github.com/hashicorp/hcl/v2"
)

// Export writes f as a conntrackd.conf that conntrackd 1.4.7 accepts with
// the same meaning, for sites that keep the C daemon on some firewalls
// (mixed clusters, rollback). f should be valid (config.Validate); Export
// re-checks only what the legacy grammar cannot say.
//
// Errors mean the file cannot be expressed faithfully (a setting with no
// legacy form, a value the legacy scanner would misread); then nothing is
// written. Warnings mean it was written with a documented difference. The
// error result is for failures of w.
//
// The output is canonical: fixed section order (General, Sync or Stats,
// Helper), one exportLine per line, tab indentation, values as conntrackd
// reads them (bytes, seconds, on/off). Link names have no legacy home and
// are kept as comments.
func Export(w io.Writer, f *config.File) (config.Diagnostics, error) {
	e := &exporter{}
	root := e.file(f)
	e.diags.Sort()
	if e.diags.HasErrors() {
		return e.diags, nil
	}
	var buf bytes.Buffer
	buf.WriteString("# conntrackd.conf for conntrackd 1.4.7, written by ctsync export.\n")
	for _, d := range root {
		buf.WriteByte('\n')
		d.render(&buf, 0)
	}
	// Each value was checked above; this is the last guard that nothing
	// conntrackd's scanner would misread (a NUL, a carriage return) is
	// written, whatever a future value forgets.
	if i := bytes.IndexFunc(buf.Bytes(), func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
		return e.diags, fmt.Errorf("export: refusing to write a control character at byte %d of the output", i)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return e.diags, fmt.Errorf("export: %w", err)
	}
	return e.diags, nil
}

// exportLine is one line of the output, or a block with its body.
type exportLine struct {
	text    string
	comment string
	block   bool
	body    []*exportLine
}

func (d *exportLine) render(b *bytes.Buffer, depth int) {
	tabs := strings.Repeat("\t", depth)
	b.WriteString(tabs + d.text)
	if d.block {
		b.WriteString(" {")
	}
	if d.comment != "" {
		b.WriteString("\t# " + d.comment)
	}
	b.WriteByte('\n')
	if !d.block {
		return
	}
	for _, c := range d.body {
		c.render(b, depth+1)
	}
	b.WriteString(tabs + "}\n")
}

func (d *exportLine) add(text string, args ...string) {
	d.body = append(d.body, &exportLine{text: strings.Join(append([]string{text}, args...), " ")})
}

func (d *exportLine) sub(text string) *exportLine {
	s := &exportLine{text: text, block: true}
	d.body = append(d.body, s)
	return s
}

type exporter struct {
	diags config.Diagnostics
}

func exportOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// number checks that v is an unsigned value conntrackd's atoi keeps intact.
func (e *exporter) number(n config.Node, attr, what string, v int64) (string, bool) {
	if v < 0 || v > intMax {
		e.diags.Errorf(n.AttrRange(attr), "export-range", "conntrackd reads unsigned numbers up to 2147483647",
			"%s: %d cannot be written for conntrackd", what, v)
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}

func (e *exporter) size(n config.Node, attr, what, s string) (string, bool) {
	v, err := config.ParseSize(s)
	if err != nil {
		e.diags.Errorf(n.AttrRange(attr), "export-value", "", "%s: %v", what, err)
		return "", false
	}
	if v > intMax {
		e.diags.Errorf(n.AttrRange(attr), "export-range", "conntrackd reads sizes up to 2147483647 bytes (2GiB - 1)",
			"%s: %s is too large for conntrackd", what, s)
		return "", false
	}
	return strconv.FormatUint(v, 10), true
}

func (e *exporter) seconds(n config.Node, attr, what, s string) (string, time.Duration, bool) {
	d, err := config.ParseSeconds(s)
	if err != nil {
		e.diags.Errorf(n.AttrRange(attr), "export-value", "", "%s: %v", what, err)
		return "", 0, false
	}
	if d/time.Second > intMax {
		e.diags.Errorf(n.AttrRange(attr), "export-range", "conntrackd reads up to 2147483647 seconds", "%s: %s is too long for conntrackd", what, s)
		return "", 0, false
	}
	return strconv.FormatInt(int64(d/time.Second), 10), d, true
}

// path checks that s is one legacy path token: an absolute path without
// space, tab or double quote, within conntrackd's length limit.
func (e *exporter) path(n config.Node, attr, what, s string, maxLen int) (string, bool) {
	switch {
	case !strings.HasPrefix(s, "/"):
		e.diags.Errorf(n.AttrRange(attr), "export-value", "conntrackd only reads absolute paths", "%s: %q is not an absolute path", what, s)
		return "", false
	case strings.ContainsAny(s, " \t\"\r\n") || strings.IndexFunc(s, unicode.IsControl) >= 0:
		e.diags.Errorf(n.AttrRange(attr), "export-value", "conntrackd has no quoting: a path ends at a space, a double quote or a newline",
			"%s: %q cannot be written for conntrackd", what, s)
		return "", false
	case len(s) > maxLen:
		e.diags.Errorf(n.AttrRange(attr), "export-range", fmt.Sprintf("conntrackd refuses paths longer than %d bytes", maxLen),
			"%s: path is %d bytes long", what, len(s))
		return "", false
	}
	return s, true
}

// exportLexesAs reports whether the legacy scanner reads s as one token of kind k.
func exportLexesAs(s string, k TokenKind) bool {
	toks := Tokens("", []byte(s))
	return len(toks) == 1 && toks[0].Kind == k && toks[0].Text == s
}

// word checks that s is read as a word (T_STRING), not as a keyword,
// boolean, mode name or IPv6 address ("cafe").
func (e *exporter) word(r hcl.Range, what, s string) (string, bool) {
	if exportLexesAs(s, TokWord) {
		return s, true
	}
	detail := "conntrackd reads a name as a letter followed by letters, digits, '.', '-' or '_'"
	if toks := Tokens("", []byte(s)); len(toks) == 1 {
		kind := toks[0].Kind.String()
		article := "a "
		if strings.ContainsRune("aeiouAEIOU", rune(kind[0])) {
			article = "an "
		}
		detail = fmt.Sprintf("conntrackd would read %q as %s%s, not as a name", s, article, kind)
	}
	e.diags.Errorf(r, "export-value", detail, "%s: %q cannot be written for conntrackd", what, s)
	return "", false
}

// facility is a syslog facility word; the daemon facility is written "on".
func (e *exporter) facility(n config.Node, attr, what, s string) (string, bool) {
	switch s {
	case "daemon":
		return "on", true
	case "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7":
		return s, true
	}
	e.diags.Errorf(n.AttrRange(attr), "export-value", "want daemon or local0 to local7", "%s: unknown syslog facility %q", what, s)
	return "", false
}

func (e *exporter) file(f *config.File) []*exportLine {
	if f == nil {
		return nil
	}
	var out []*exportLine
	if g := e.general(f); len(g.body) > 0 {
		out = append(out, g)
	}
	if f.Sync != nil && f.Stats != nil {
		e.diags.Errorf(f.Stats.DefRange, "export-conflict", fmt.Sprintf("the sync block is at %s", config.PosOf(f.Sync.DefRange)),
			"conntrackd cannot run sync and stats together")
	}
	if f.Sync != nil {
		out = append(out, e.sync(f))
	} else if len(f.Links) > 0 {
		e.diags.Warnf(f.Links[0].DefRange, "export-dropped", "links belong to the Sync section", "links without a sync block are not exported")
	}
	if f.Stats != nil {
		out = append(out, e.stats(f))
	}
	if f.Metrics != nil {
		// conntrackd has no metrics endpoint; the nodes still running it
		// are observed through its -s output instead.
		e.diags.Warnf(f.Metrics.DefRange, "export-dropped", "conntrackd has no metrics endpoint", "the metrics block is not exported")
	}
	if f.Helpers != nil {
		out = append(out, e.helpers(f.Helpers))
	}
	return out
}

func (e *exporter) general(f *config.File) *exportLine {
	g := &exportLine{text: "General", block: true}
	e.hash(g, f.Caches)
	if l := f.Log; l != nil {
		if l.File != nil {
			if p, ok := e.path(l.Node, "file", "log file", *l.File, config.Defaults.MaxPath); ok {
				g.add("LogFile", p)
			}
		}
		if l.Syslog != nil {
			if s, ok := e.facility(l.Node, "syslog", "log syslog", *l.Syslog); ok {
				g.add("Syslog", s)
			}
		}
	}
	if d := f.Daemon; d != nil && d.LockFile != nil {
		if p, ok := e.path(d.Node, "lock_file", "lock file", *d.LockFile, config.Defaults.MaxPath); ok {
			g.add("LockFile", p)
		}
	}
	if c := f.Control; c != nil && c.Path != nil {
		if p, ok := e.path(c.Node, "path", "control socket", *c.Path, config.Defaults.MaxControlPath); ok {
			g.sub("UNIX").add("Path", p)
		}
	}
	if nl := f.Netlink; nl != nil {
		e.netlink(g, nl)
	}
	if d := f.Daemon; d != nil {
		if d.PollInterval != nil {
			if s, dur, ok := e.seconds(d.Node, "poll_interval", "poll interval", *d.PollInterval); ok {
				if dur == 0 {
					e.diags.Errorf(d.AttrRange("poll_interval"), "export-range", "conntrackd refuses PollSecs 0; leave poll_interval unset for event mode",
						"poll interval must be at least 1s")
				} else {
					g.add("PollSecs", s)
				}
			}
		}
		if d.EventIterationLimit != nil {
			if s, ok := e.number(d.Node, "event_iteration_limit", "event iteration limit", *d.EventIterationLimit); ok {
				g.add("EventIterationLimit", s)
			}
		}
		if d.Systemd != nil {
			g.add("Systemd", exportOnOff(*d.Systemd))
		}
	}
	if s := f.Scheduler; s != nil {
		e.scheduler(g, s)
	}
	if fl := f.Filter; fl != nil {
		e.filter(g, fl)
	}
	return g
}

// hash writes the cache sizes. conntrackd has one HashSize and one
// HashLimit for every cache, while ctsync sizes each tier (a tier not
// written has the default size); tiers that differ get the larger value.
// A disabled tier does not count, unless every tier is disabled: the sizes
// are still the configuration's (and conntrackd still reads them).
func (e *exporter) hash(g *exportLine, caches []config.Cache) {
	pick := func(attr, keyword string, get func(config.Cache) *int64, def int64) {
		collect := func(skipDisabled bool) (map[string]int64, bool, hcl.Range) {
			vals := map[string]int64{"internal": def, "external": def}
			written := false
			var at hcl.Range
			for _, c := range caches {
				if skipDisabled && c.Enabled != nil && !*c.Enabled {
					delete(vals, c.Tier)
					continue
				}
				if p := get(c); p != nil {
					vals[c.Tier], written, at = *p, true, c.AttrRange(attr)
				}
			}
			return vals, written, at
		}
		vals, written, at := collect(true)
		if len(vals) == 0 {
			vals, written, at = collect(false)
		}
		if !written {
			return
		}
		var val int64 = -1
		for _, v := range vals {
			val = max(val, v)
		}
		for tier, v := range vals {
			if v != val {
				e.diags.Warnf(at, "export-merged", fmt.Sprintf("conntrackd has one %s for every cache; the larger, %d, is written", keyword, val),
					"cache %s differs between tiers (%s: %d)", attr, tier, v)
				break
			}
		}
		if v, ok := e.number(config.Node{DefRange: at}, attr, "cache "+attr, val); ok {
			g.add(keyword, v)
		}
	}
	pick("size", "HashSize", func(c config.Cache) *int64 { return c.Size }, int64(config.Defaults.HashSize))
	pick("limit", "HashLimit", func(c config.Cache) *int64 { return c.Limit }, int64(config.Defaults.HashLimit))
}

func (e *exporter) netlink(g *exportLine, nl *config.Netlink) {
	var size, growth uint64
	if nl.BufferSize != nil {
		if s, ok := e.size(nl.Node, "buffer_size", "netlink buffer size", *nl.BufferSize); ok {
			g.add("NetlinkBufferSize", s)
			size, _ = strconv.ParseUint(s, 10, 64)
		}
	}
	if nl.BufferSizeMaxGrowth != nil {
		if s, ok := e.size(nl.Node, "buffer_size_max_growth", "netlink buffer size max growth", *nl.BufferSizeMaxGrowth); ok {
			g.add("NetlinkBufferSizeMaxGrowth", s)
			growth, _ = strconv.ParseUint(s, 10, 64)
		}
	}
	if nl.BufferSize != nil && size > growth {
		e.diags.Warnf(nl.AttrRange("buffer_size"), "export-ignored", "set buffer_size_max_growth to at least buffer_size",
			"conntrackd ignores NetlinkBufferSize unless NetlinkBufferSizeMaxGrowth is at least as large")
	}
	if nl.OverrunResync != nil {
		if *nl.OverrunResync == "off" {
			g.add("NetlinkOverrunResync", "off")
		} else if s, d, ok := e.seconds(nl.Node, "overrun_resync", "netlink overrun resync", *nl.OverrunResync); ok {
			if d == 0 {
				e.diags.Warnf(nl.AttrRange("overrun_resync"), "export-changed", "write \"off\" to disable the resync",
					"conntrackd reads NetlinkOverrunResync 0 as 30 seconds")
			}
			g.add("NetlinkOverrunResync", s)
		}
	}
	if nl.EventsReliable != nil {
		g.add("NetlinkEventsReliable", exportOnOff(*nl.EventsReliable))
	}
}

// scheduler always writes both Type and Priority: conntrackd ignores a
// Priority without Type and fails to apply a Type without Priority.
func (e *exporter) scheduler(g *exportLine, s *config.Scheduler) {
	typ := strings.ToUpper(config.Defaults.SchedulerPolicy.String())
	if s.Policy != nil {
		switch *s.Policy {
		case "rr", "fifo":
			typ = strings.ToUpper(*s.Policy)
		case "other":
			e.diags.Errorf(s.AttrRange("policy"), "export-value", "conntrackd 1.4.5+ runs SCHED_RR at 99 without a Scheduler block, and its Type takes RR or FIFO only",
				"scheduler policy \"other\" has no conntrackd equivalent")
			return
		default:
			e.diags.Errorf(s.AttrRange("policy"), "export-value", "want rr or fifo", "scheduler policy: unknown policy %q", *s.Policy)
			return
		}
	}
	prio := strconv.Itoa(config.Defaults.SchedulerPriority)
	if s.Priority != nil {
		if *s.Priority < 0 || *s.Priority > 99 {
			e.diags.Errorf(s.AttrRange("priority"), "export-range", "conntrackd accepts 0 to 99", "scheduler priority %d is out of range", *s.Priority)
			return
		}
		prio = strconv.FormatInt(*s.Priority, 10)
	}
	sd := g.sub("Scheduler")
	sd.add("Type", typ)
	sd.add("Priority", prio)
}

// exportTCPStates maps the model's state names to the legacy words.
var exportTCPStates = map[string]string{
	"syn_sent": "SYN_SENT", "syn_recv": "SYN_RECV", "established": "ESTABLISHED", "fin_wait": "FIN_WAIT",
	"close_wait": "CLOSE_WAIT", "last_ack": "LAST_ACK", "time_wait": "TIME_WAIT", "close": "CLOSE", "listen": "LISTEN",
}

// filter writes the chain as conntrackd's three sets. A flow passes the
// chain when it passes every stage, so several ignore stages of one kind
// are one ignore set (their union); several accept stages would be an
// intersection, which conntrackd cannot say.
func (e *exporter) filter(g *exportLine, fl *config.Filter) {
	from := "Userspace"
	if fl.RunIn != nil {
		switch *fl.RunIn {
		case "user":
		case "kernel":
			from = "Kernelspace"
		default:
			e.diags.Errorf(fl.AttrRange("run_in"), "export-value", "want user or kernel", "filter run_in: unknown value %q", *fl.RunIn)
		}
	}
	type set struct {
		policy string
		first  *config.Stage
		items  []string
		seen   map[string]bool
	}
	sets := map[string]*set{}
	var order []string
	for i := range fl.Stages {
		st := &fl.Stages[i]
		policy, attr, list := "Accept", "accept", st.Accept
		if st.Ignore != nil {
			policy, attr, list = "Ignore", "ignore", st.Ignore
		}
		if st.Accept != nil && st.Ignore != nil || st.Accept == nil && st.Ignore == nil {
			e.diags.Errorf(st.DefRange, "export-value", "write accept or ignore", "filter stage %q needs exactly one of accept and ignore", st.Kind)
			continue
		}
		s := sets[st.Kind]
		if s == nil {
			s = &set{policy: policy, first: st, seen: map[string]bool{}}
			sets[st.Kind] = s
			order = append(order, st.Kind)
		} else if policy == "Accept" || s.policy == "Accept" {
			e.diags.Errorf(st.DefRange, "export-unexpressible",
				fmt.Sprintf("conntrackd has one %s set with one policy; merge the stages into one (the first is at %s)", st.Kind, config.PosOf(s.first.DefRange)),
				"a second %s filter stage with accept cannot be written for conntrackd", st.Kind)
			continue
		}
		for j, v := range list {
			item, ok := e.filterItem(st, attr, j, v)
			if ok && !s.seen[item] {
				s.seen[item] = true
				s.items = append(s.items, item)
			}
		}
	}
	if a := sets["address"]; a != nil && from == "Kernelspace" {
		var n4, n6 int
		for _, it := range a.items {
			if strings.HasPrefix(it, "IPv4") {
				n4++
			} else {
				n6++
			}
		}
		if n4 > config.Defaults.KernelFilterMaxIPv4 || n6 > config.Defaults.KernelFilterMaxIPv6 {
			e.diags.Errorf(a.first.DefRange, "export-range",
				fmt.Sprintf("conntrackd's kernel-space filter holds %d IPv4 and %d IPv6 entries and silently drops the rest; run the filter in user space",
					config.Defaults.KernelFilterMaxIPv4, config.Defaults.KernelFilterMaxIPv6),
				"the address filter has %d IPv4 and %d IPv6 entries", n4, n6)
		}
	}
	fd := g.sub("Filter From " + from)
	for _, kind := range order {
		s := sets[kind]
		switch kind {
		case "protocol":
			pd := fd.sub("Protocol " + s.policy)
			for _, it := range s.items {
				pd.add(it)
			}
		case "address":
			ad := fd.sub("Address " + s.policy)
			for _, it := range s.items {
				ad.add(it)
			}
		case "tcp_state":
			sd := fd.sub("State " + s.policy)
			if len(s.items) > 0 {
				sd.add(strings.Join(s.items, " "), "for", "TCP")
			}
		}
	}
}

func (e *exporter) filterItem(st *config.Stage, attr string, i int, v string) (string, bool) {
	r := st.ElemRange(attr, i)
	switch st.Kind {
	case "protocol":
		return e.protocol(r, v)
	case "address":
		return e.address(r, v)
	case "tcp_state":
		if w, ok := exportTCPStates[v]; ok {
			return w, true
		}
		e.diags.Errorf(r, "export-value", "want one of syn_sent, syn_recv, established, fin_wait, close_wait, last_ack, time_wait, close, listen",
			"filter tcp_state: unknown state %q", v)
		return "", false
	}
	e.diags.Errorf(st.DefRange, "export-value", "want protocol, address or tcp_state", "unknown filter stage kind %q", st.Kind)
	return "", false
}

// protocol names a protocol as conntrackd's filter reads it: TCP and UDP
// are keywords, other names go through getprotobyname, and numbers are not
// accepted at all, so they are named from the protocol database conntrackd
// 1.4.7 reads (Debian's /etc/protocols, embedded: the output does not
// depend on the machine that exports).
func (e *exporter) protocol(r hcl.Range, v string) (string, bool) {
	_, name, ok := config.ProtocolName(v)
	if _, err := strconv.Atoi(name); err == nil {
		e.diags.Errorf(r, "export-unexpressible", "conntrackd's filter takes protocol names only and /etc/protocols names no protocol "+name,
			"filter protocol %s cannot be written for conntrackd", v)
		return "", false
	}
	if !ok {
		e.diags.Errorf(r, "export-unexpressible", fmt.Sprintf("conntrackd looks protocol names up in /etc/protocols and would skip %q", v),
			"filter protocol %q is not in /etc/protocols", v)
		return "", false
	}
	switch name {
	case "tcp", "udp":
		return strings.ToUpper(name), true
	}
	return e.word(r, "filter protocol", name)
}

// address writes one filter host or network.
func (e *exporter) address(r hcl.Range, v string) (string, bool) {
	var (
		addr netip.Addr
		text string
	)
	if p, err := netip.ParsePrefix(v); err == nil {
		addr, text = p.Addr(), p.String()
	} else if a, err := netip.ParseAddr(v); err == nil {
		addr, text = a, a.String()
	} else {
		e.diags.Errorf(r, "export-value", "want an address or a prefix such as 192.0.2.0/24", "filter address %q is not an address", v)
		return "", false
	}
	if addr.Is4() && exportLexesAs(text, TokIPv4) {
		return "IPv4_address " + text, true
	}
	if addr.Is6() && !addr.Is4In6() && addr.Zone() == "" && exportLexesAs(text, TokIPv6) {
		return "IPv6_address " + text, true
	}
	e.diags.Errorf(r, "export-unexpressible", "conntrackd reads neither zones nor IPv4-mapped IPv6 addresses", "filter address %q cannot be written for conntrackd", v)
	return "", false
}

// linkAddr writes a link address (no prefix, no zone) and its family.
func (e *exporter) linkAddr(n config.Node, attr, what, v string) (string, bool, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		e.diags.Errorf(n.AttrRange(attr), "export-value", "want an IPv4 or IPv6 address", "%s %q is not an address", what, v)
		return "", false, false
	}
	text := a.String()
	if a.Is4() && exportLexesAs(text, TokIPv4) {
		return text, false, true
	}
	if a.Is6() && !a.Is4In6() && a.Zone() == "" && exportLexesAs(text, TokIPv6) {
		return text, true, true
	}
	e.diags.Errorf(n.AttrRange(attr), "export-unexpressible", "conntrackd reads neither zones nor IPv4-mapped IPv6 addresses", "%s %q cannot be written for conntrackd", what, v)
	return "", false, false
}

var exportModes = map[string]string{"ftfw": "FTFW", "notrack": "NOTRACK", "alarm": "ALARM"}

func (e *exporter) sync(f *config.File) *exportLine {
	s := f.Sync
	sd := &exportLine{text: "Sync", block: true}
	kw, ok := exportModes[s.Mode]
	if !ok {
		e.diags.Errorf(s.DefRange, "export-value", "want ftfw, notrack or alarm", "unknown sync mode %q", s.Mode)
		return sd
	}
	md := sd.sub("Mode " + kw)
	only := func(attr string, set bool, modes ...string) bool {
		if !set {
			return false
		}
		for _, m := range modes {
			if m == s.Mode {
				return true
			}
		}
		e.diags.Warnf(s.AttrRange(attr), "export-dropped", fmt.Sprintf("conntrackd reads it only in %s mode", strings.Join(modes, " and ")),
			"sync %s has no effect in %s mode and is not exported", attr, s.Mode)
		return false
	}
	if only("resend_queue_size", s.ResendQueueSize != nil, "ftfw") {
		if v, ok := e.number(s.Node, "resend_queue_size", "sync resend_queue_size", *s.ResendQueueSize); ok {
			md.add("ResendQueueSize", v)
		}
	}
	if only("ack_window_size", s.ACKWindowSize != nil, "ftfw") {
		if v, ok := e.number(s.Node, "ack_window_size", "sync ack_window_size", *s.ACKWindowSize); ok {
			md.add("ACKWindowSize", v)
		}
	}
	dur := func(attr, keyword string, p *string) {
		if v, _, ok := e.seconds(s.Node, attr, "sync "+attr, *p); ok {
			md.add(keyword, v)
		}
	}
	if only("refresh_time", s.RefreshTime != nil, "alarm") {
		dur("refresh_time", "RefreshTime", s.RefreshTime)
	}
	if only("cache_timeout", s.CacheTimeout != nil, "alarm") {
		dur("cache_timeout", "CacheTimeout", s.CacheTimeout)
	}
	if s.CommitTimeout != nil {
		dur("commit_timeout", "CommitTimeout", s.CommitTimeout)
	}
	if s.PurgeTimeout != nil {
		dur("purge_timeout", "PurgeTimeout", s.PurgeTimeout)
	}
	for _, c := range f.Caches {
		if c.Enabled == nil || *c.Enabled {
			continue
		}
		switch {
		case c.Tier == "internal" && s.Mode == "notrack":
			md.add("DisableInternalCache", "on")
		case c.Tier == "external" && s.Mode != "alarm":
			md.add("DisableExternalCache", "on")
		default:
			e.diags.Errorf(c.AttrRange("enabled"), "export-unexpressible", "conntrackd can disable the internal cache only in notrack mode, the external cache only in ftfw and notrack mode",
				"a disabled %s cache cannot be written for conntrackd in %s mode", c.Tier, s.Mode)
		}
	}
	if only("startup_resync", s.StartupResync != nil, "ftfw", "notrack") {
		md.add("StartupResync", exportOnOff(*s.StartupResync))
	}

	e.links(sd, f.Links)

	if s.TCPWindowTracking != nil || s.ExpectationSync != nil || s.ExpectationHelpers != nil {
		od := sd.sub("Options")
		if s.TCPWindowTracking != nil {
			od.add("TCPWindowTracking", exportOnOff(*s.TCPWindowTracking))
		}
		switch {
		case s.ExpectationSync != nil && !*s.ExpectationSync:
			if len(s.ExpectationHelpers) > 0 {
				e.diags.Warnf(s.AttrRange("expectation_helpers"), "export-dropped", "expectation_sync is false", "expectation_helpers has no effect and is not exported")
			}
			od.add("ExpectationSync", "off")
		case len(s.ExpectationHelpers) > 0:
			ed := od.sub("ExpectationSync")
			for i, h := range s.ExpectationHelpers {
				if w, ok := e.word(s.ElemRange("expectation_helpers", i), "expectation helper", h); ok {
					ed.add(w)
				}
			}
		case s.ExpectationSync != nil:
			od.add("ExpectationSync", "on")
		}
	}
	return sd
}

var exportTransports = map[string]string{"multicast": "Multicast", "udp": "UDP", "tcp": "TCP"}

func (e *exporter) links(sd *exportLine, links []config.Link) {
	if len(links) > config.Defaults.MaxLinks {
		e.diags.Errorf(links[config.Defaults.MaxLinks].DefRange, "export-range", fmt.Sprintf("conntrackd takes at most %d links", config.Defaults.MaxLinks),
			"too many links for conntrackd")
		return
	}
	// conntrackd starts on the last link marked Default, ctsync on the first.
	defaultSeen := false
	var queueLen *int64
	for i := range links {
		l := &links[i]
		kw, ok := exportTransports[l.Transport]
		if !ok {
			e.diags.Errorf(l.AttrRange("transport"), "export-value", "want multicast, udp or tcp", "link %q: unknown transport %q", l.Name, l.Transport)
			continue
		}
		if l.Transport != links[0].Transport {
			e.diags.Errorf(l.AttrRange("transport"), "export-unexpressible", fmt.Sprintf("link %q uses %s", links[0].Name, links[0].Transport),
				"link %q: conntrackd needs every link to use the same transport", l.Name)
			continue
		}
		header := kw
		if l.Default != nil && *l.Default && !defaultSeen {
			header += " Default"
			defaultSeen = true
		}
		ld := sd.sub(header)
		ld.comment = "link " + strconv.Quote(l.Name)
		where := fmt.Sprintf("link %q", l.Name)
		dropped := func(attr string, set bool) {
			if set {
				e.diags.Warnf(l.AttrRange(attr), "export-dropped", fmt.Sprintf("conntrackd has no %s for %s links", attr, l.Transport),
					"%s: %s is not exported", where, attr)
			}
		}
		if l.Transport == "multicast" {
			dropped("local", l.Local != nil)
			dropped("peer", l.Peer != nil)
			dropped("error_queue_length", l.ErrorQueueLength != nil)
			if l.Group != nil {
				if a, v6, ok := e.linkAddr(l.Node, "group", where+": group", *l.Group); ok {
					// IPv6_address must come before Interface (conntrackd
					// resolves the interface with the last address read).
					ld.add(map[bool]string{false: "IPv4_address", true: "IPv6_address"}[v6], a)
				}
			}
			if l.Port != nil {
				if v, ok := e.number(l.Node, "port", where+": port", *l.Port); ok {
					ld.add("Group", v)
				}
			}
			if l.InterfaceAddress != nil {
				if a, v6, ok := e.linkAddr(l.Node, "interface_address", where+": interface_address", *l.InterfaceAddress); ok {
					if v6 {
						e.diags.Errorf(l.AttrRange("interface_address"), "export-unexpressible", "conntrackd ignores IPv6_interface; the interface name selects the IPv6 interface",
							"%s: an IPv6 interface_address cannot be written for conntrackd", where)
					} else {
						ld.add("IPv4_interface", a)
					}
				}
			}
		} else {
			dropped("group", l.Group != nil)
			dropped("interface_address", l.InterfaceAddress != nil)
			var fams []bool
			for _, a := range []struct{ attr, v4, v6 string }{
				{"local", "IPv4_address", "IPv6_address"},
				{"peer", "IPv4_Destination_Address", "IPv6_Destination_Address"},
			} {
				p := l.Local
				if a.attr == "peer" {
					p = l.Peer
				}
				if p == nil {
					continue
				}
				if text, v6, ok := e.linkAddr(l.Node, a.attr, where+": "+a.attr, *p); ok {
					fams = append(fams, v6)
					ld.add(map[bool]string{false: a.v4, true: a.v6}[v6], text)
				}
			}
			if len(fams) == 2 && fams[0] != fams[1] {
				e.diags.Errorf(l.AttrRange("peer"), "export-unexpressible", "conntrackd gives a link the family of its last address",
					"%s: local and peer addresses of different families cannot be written for conntrackd", where)
			}
		}
		if l.Interface != nil {
			if w, ok := e.word(l.AttrRange("interface"), where+": interface", *l.Interface); ok {
				ld.add("Interface", w)
			}
		}
		if l.Transport != "multicast" && l.Port != nil {
			if v, ok := e.number(l.Node, "port", where+": port", *l.Port); ok {
				ld.add("Port", v)
			}
		}
		if l.SendBuffer != nil {
			if v, ok := e.size(l.Node, "send_buffer", where+": send_buffer", *l.SendBuffer); ok {
				ld.add("SndSocketBuffer", v)
			}
		}
		if l.ReceiveBuffer != nil {
			if v, ok := e.size(l.Node, "receive_buffer", where+": receive_buffer", *l.ReceiveBuffer); ok {
				ld.add("RcvSocketBuffer", v)
			}
		}
		if l.Checksum != nil {
			ld.add("Checksum", exportOnOff(*l.Checksum))
		}
		if l.Transport == "udp" {
			dropped("error_queue_length", l.ErrorQueueLength != nil)
		}
		if l.Transport == "tcp" && l.ErrorQueueLength != nil {
			if v, ok := e.number(l.Node, "error_queue_length", where+": error_queue_length", *l.ErrorQueueLength); ok {
				ld.add("ErrorQueueLength", v)
			}
			if queueLen != nil && *queueLen != *l.ErrorQueueLength {
				e.diags.Warnf(l.AttrRange("error_queue_length"), "export-merged", "conntrackd keeps one value for every link: the last one written",
					"%s: error_queue_length differs between links", where)
			}
			queueLen = l.ErrorQueueLength
		}
	}
}

func (e *exporter) stats(f *config.File) *exportLine {
	s := f.Stats
	sd := &exportLine{text: "Stats", block: true}
	if s.LogFile != nil {
		if p, ok := e.path(s.Node, "log_file", "stats log file", *s.LogFile, config.Defaults.MaxPath); ok {
			sd.add("LogFile", p)
		}
	}
	if s.Syslog != nil {
		if v, ok := e.facility(s.Node, "syslog", "stats syslog", *s.Syslog); ok {
			sd.add("Syslog", v)
			if f.Log != nil && f.Log.Syslog != nil && *f.Log.Syslog != *s.Syslog {
				e.diags.Warnf(s.AttrRange("syslog"), "export-changed", fmt.Sprintf("conntrackd logs flows with the log block's facility, %s", *f.Log.Syslog),
					"stats syslog facility %s differs from the daemon's", *s.Syslog)
			}
		}
	}
	return sd
}

// helperLabel is where label i of a helper (1: family, 2: protocol) was
// written, or its header.
func helperLabel(t *config.Helper, i int) hcl.Range {
	if i < len(t.Labels) {
		return t.Labels[i]
	}
	return t.DefRange
}

func (e *exporter) helpers(h *config.Helpers) *exportLine {
	hd := &exportLine{text: "Helper", block: true}
	if h.Setup != nil {
		hd.add("Setup", exportOnOff(*h.Setup))
	}
	for i := range h.Helper {
		t := &h.Helper[i]
		where := fmt.Sprintf("helper %q", t.Name)
		name, ok1 := e.word(t.DefRange, where, t.Name)
		fam, ok2 := t.Family, t.Family == "inet" || t.Family == "inet6"
		if !ok2 {
			e.diags.Errorf(helperLabel(t, 1), "export-value", "want inet or inet6", "%s: unknown family %q", where, t.Family)
		}
		proto, ok3 := t.Protocol, t.Protocol == "tcp" || t.Protocol == "udp"
		if !ok3 {
			e.diags.Errorf(helperLabel(t, 2), "export-value", "want tcp or udp", "%s: unknown protocol %q", where, t.Protocol)
		}
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		td := hd.sub(strings.Join([]string{"Type", name, fam, proto}, " "))
		if t.QueueNum != nil {
			if v, ok := e.number(t.Node, "queue_num", where+": queue_num", *t.QueueNum); ok {
				td.add("QueueNum", v)
			}
		}
		if t.QueueLen != nil {
			if v, ok := e.number(t.Node, "queue_len", where+": queue_len", *t.QueueLen); ok {
				td.add("QueueLen", v)
			}
		}
		for j := range t.Policies {
			p := &t.Policies[j]
			pwhere := fmt.Sprintf("%s: policy %q", where, p.Name)
			pname, ok := e.word(p.DefRange, pwhere, p.Name)
			if !ok {
				continue
			}
			if len(pname) > 16 {
				e.diags.Errorf(p.DefRange, "export-range", "conntrackd refuses policy names longer than 16 bytes", "%s: name too long", pwhere)
				continue
			}
			if p.ExpectMax == nil && p.ExpectTimeout == nil {
				e.diags.Errorf(p.DefRange, "export-unexpressible", "set expect_max or expect_timeout, or remove the block",
					"%s: conntrackd refuses an empty policy", pwhere)
				continue
			}
			pd := td.sub("Policy " + pname)
			if p.ExpectMax != nil {
				if v, ok := e.number(p.Node, "expect_max", pwhere+": expect_max", *p.ExpectMax); ok {
					pd.add("ExpectMax", v)
				}
			}
			if p.ExpectTimeout != nil {
				if v, _, ok := e.seconds(p.Node, "expect_timeout", pwhere+": expect_timeout", *p.ExpectTimeout); ok {
					pd.add("ExpectTimeout", v)
				}
			}
		}
	}
	return hd
}
