package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// ValidateOptions adjust Validate to the host it runs for.
type ValidateOptions struct {
	// Strict turns the "interface-absent" warning (a link's interface does
	// not exist on this host) into an error. It changes nothing else: other
	// warnings stay warnings, and callers that want every warning to fail
	// check the returned Diagnostics themselves.
	Strict bool
	// InterfaceExists reports whether a network interface exists on this
	// host; nil means net.InterfaceByName.
	InterfaceExists func(name string) bool
}

// Validate checks a decoded configuration and turns it into a Runtime with
// every default applied. It reports all problems at once, each at the
// attribute (or, for a missing attribute, the block header) it is about.
// The Runtime is usable only when the Diagnostics have no errors.
//
// The diagnostic codes are listed in docs/diagnostics.md.
func Validate(f *File, opts ValidateOptions) (Runtime, Diagnostics) {
	v := &validator{opts: opts}
	if v.opts.InterfaceExists == nil {
		v.opts.InterfaceExists = func(name string) bool {
			_, err := net.InterfaceByName(name)
			return err == nil
		}
	}
	if f == nil {
		return Runtime{}, nil
	}
	v.syntax = f.Syntax
	var rt Runtime
	rt.Daemon = v.daemon(f.Daemon)
	rt.Log = v.log(f.Log)
	rt.Control = v.control(f.Control)
	rt.Metrics = v.metrics(f.Metrics)
	rt.Netlink = v.netlink(f.Netlink, f.Daemon)
	rt.Scheduler = v.scheduler(f.Scheduler)
	rt.Filter = v.filter(f.Filter)
	rt.Caches = v.caches(f.Caches)
	v.mode(f, &rt)
	v.diags.Sort()
	v.diags.AttachSource(f.Source)
	return rt, v.diags
}

type validator struct {
	opts  ValidateOptions
	diags Diagnostics
	// syntax is the file's, for the examples in hints.
	syntax Syntax
}

// labelRange is where a block's i-th label was written, or its header.
func labelRange(n Node, i int) hcl.Range {
	if i < len(n.Labels) {
		return n.Labels[i]
	}
	return n.DefRange
}

// written reports whether attribute name was written in the block. Front
// ends that build a File by hand (migrate) may leave Attrs empty, so a set
// value counts as written too.
func written(n Node, name string, set bool) bool {
	_, ok := n.Attrs[name]
	return ok || set
}

// ---- scalars ------------------------------------------------------------

// enum parses an enumeration word. A word in the wrong case is accepted with
// a "case" warning; an unknown one is an "enum" error listing the allowed
// words, with a suggestion. names may hold "" for unused indexes.
func (v *validator) enum(r hcl.Range, what, word string, names []string) (int, bool) {
	for i, n := range names {
		if n != "" && word == n {
			return i, true
		}
	}
	for i, n := range names {
		if n != "" && strings.EqualFold(word, n) {
			v.diags.Warnf(r, "case", fmt.Sprintf("write %q", n), "%s %q should be written in lower case", what, word)
			return i, true
		}
	}
	allowed := nonEmpty(names)
	// what may name the block first ("link \"a\": transport"); "unknown"
	// goes with the noun, not with the block.
	where, noun := "", what
	if i := strings.LastIndex(what, ": "); i >= 0 {
		where, noun = what[:i+2], what[i+2:]
	}
	v.diags.Errorf(r, "enum", "want "+orList(allowed)+DidYouMean(word, allowed), "%sunknown %s %q", where, noun, word)
	return 0, false
}

func nonEmpty(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// orList quotes words and joins them: "a", "b" or "c".
func orList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// integer checks an optional whole number against [lo, hi].
func (v *validator) integer(where string, n Node, attr string, p *int64, def, lo, hi int64) int64 {
	if p == nil {
		return def
	}
	if *p < lo || *p > hi {
		v.diags.Errorf(n.AttrRange(attr), "range", fmt.Sprintf("want %d to %d", lo, hi), "%s: %s %d is out of range", where, attr, *p)
		return def
	}
	return *p
}

// size parses an optional byte size and checks it against [lo, hi].
func (v *validator) size(where string, n Node, attr string, p *string, lo, hi uint64) uint64 {
	if p == nil {
		return 0
	}
	sz, err := ParseSize(*p)
	if err != nil {
		v.diags.Errorf(n.AttrRange(attr), "size", "", "%s: %s: %v", where, attr, err)
		return 0
	}
	if sz < lo || sz > hi {
		v.diags.Errorf(n.AttrRange(attr), "range", fmt.Sprintf("want %s to %s (%d bytes)", FormatSize(lo), FormatSize(hi), hi),
			"%s: %s %s is out of range", where, attr, *p)
		return 0
	}
	return sz
}

// seconds parses an optional duration; min is the smallest accepted value
// (0 or one second).
func (v *validator) seconds(where string, n Node, attr string, p *string, def, lo time.Duration) time.Duration {
	if p == nil {
		return def
	}
	d, err := ParseSeconds(*p)
	if err != nil {
		v.diags.Errorf(n.AttrRange(attr), "duration", "", "%s: %s: %v", where, attr, err)
		return def
	}
	if d < lo {
		v.diags.Errorf(n.AttrRange(attr), "range", fmt.Sprintf("want at least %s; omit %s for the default", FormatSeconds(lo), attr),
			"%s: %s %s is too short", where, attr, *p)
		return def
	}
	return d
}

// str returns an optional string that must not be empty when written.
func (v *validator) str(where string, n Node, attr string, p *string, def string) string {
	if p == nil {
		return def
	}
	if strings.TrimSpace(*p) == "" {
		v.diags.Errorf(n.AttrRange(attr), "value", "omit "+attr+" instead", "%s: %s is empty", where, attr)
		return def
	}
	return *p
}

// path is str for a file name, with the checks conntrackd's own parser
// makes and those that a file name needs: at most maxLen bytes
// (Defaults.MaxPath, conntrackd's FILENAME_MAXLEN, for a lock or log file;
// Defaults.MaxControlPath for the UNIX socket, whose sun_path holds 108
// with the NUL) and no control character (a NUL would cut the name short
// where C reads it, a newline would end the line of conntrackd.conf it is
// exported to).
func (v *validator) path(where string, n Node, attr string, p *string, def string, maxLen int) string {
	s := v.str(where, n, attr, p, def)
	if p == nil || s != *p {
		return s
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		v.diags.Errorf(n.AttrRange(attr), "value", "a file name cannot hold control characters such as NUL or newline",
			"%s: %s has the control character %U at byte %d", where, attr, r, i)
		return def
	}
	if !strings.HasPrefix(s, "/") {
		// conntrackd's lexer reads a path only from its leading slash, and
		// a daemon's working directory is no place to resolve one against.
		v.diags.Errorf(n.AttrRange(attr), "value", "write an absolute path, starting with /",
			"%s: %s %q is a relative path", where, attr, s)
		return def
	}
	if len(s) > maxLen {
		what := "a file name"
		if maxLen == Defaults.MaxControlPath {
			what = "a UNIX socket path"
		}
		v.diags.Errorf(n.AttrRange(attr), "range", fmt.Sprintf("%s holds at most %d bytes", what, maxLen),
			"%s: %s is %d bytes long", where, attr, len(s))
		return def
	}
	return s
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// addr parses an IP address; zones are refused because the link's interface
// already gives the scope.
func (v *validator) addr(where string, n Node, attr, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		v.diags.Errorf(n.AttrRange(attr), "address", "want an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1",
			"%s: %s %q is not an IP address", where, attr, s)
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		v.diags.Errorf(n.AttrRange(attr), "address", "the link's interface gives the scope; write the address without %"+a.Zone(),
			"%s: %s %q must not carry a zone", where, attr, s)
		return netip.Addr{}, false
	}
	return a, true
}

// ---- daemon-wide blocks -------------------------------------------------

func (v *validator) daemon(d *Daemon) DaemonSettings {
	out := DaemonSettings{
		LockFile:            Defaults.LockFile,
		Systemd:             Defaults.Systemd,
		EventIterationLimit: Defaults.EventIterationLimit,
	}
	if d == nil {
		return out
	}
	out.LockFile = v.path("daemon", d.Node, "lock_file", d.LockFile, Defaults.LockFile, Defaults.MaxPath)
	out.Systemd = boolOr(d.Systemd, Defaults.Systemd)
	out.PollInterval = v.seconds("daemon", d.Node, "poll_interval", d.PollInterval, 0, time.Second)
	out.EventIterationLimit = int(v.integer("daemon", d.Node, "event_iteration_limit", d.EventIterationLimit,
		int64(Defaults.EventIterationLimit), 1, math.MaxInt32))
	return out
}

func (v *validator) facility(where string, n Node, attr string, p *string) Facility {
	if p == nil {
		return FacilityNone
	}
	i, ok := v.enum(n.AttrRange(attr), where+": syslog facility", *p, facilityNames[1:])
	if !ok {
		return FacilityNone
	}
	return Facility(i + 1)
}

func (v *validator) log(l *Log) LogSettings {
	if l == nil {
		return LogSettings{}
	}
	return LogSettings{
		File:   v.path("log", l.Node, "file", l.File, "", Defaults.MaxPath),
		Syslog: v.facility("log", l.Node, "syslog", l.Syslog),
	}
}

func (v *validator) control(c *Control) ControlSettings {
	if c == nil {
		return ControlSettings{}
	}
	return ControlSettings{Path: v.path("control", c.Node, "path", c.Path, "", Defaults.MaxControlPath)}
}

// metrics checks the endpoint's listen address: an IP address (or none,
// for every address) and a port, so that what the daemon binds does not
// depend on name resolution on the host that validates the file.
func (v *validator) metrics(m *Metrics) MetricsSettings {
	if m == nil {
		return MetricsSettings{}
	}
	const example = "want an IP address and a port, such as \"127.0.0.1:9724\" or \"[::1]:9724\" (\":9724\" for every address)"
	r := m.AttrRange("listen")
	host, port, err := net.SplitHostPort(strings.TrimSpace(m.Listen))
	if err != nil {
		if strings.TrimSpace(m.Listen) == "" {
			v.diags.Errorf(r, "value", example, "metrics: listen is empty")
			return MetricsSettings{}
		}
		v.diags.Errorf(r, "address", example, "metrics: listen %q is not a host and port", m.Listen)
		return MetricsSettings{}
	}
	ok := true
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.diags.Errorf(r, "address", example, "metrics: listen %q: %q is not an IP address", m.Listen, host)
			ok = false
		}
	}
	n, err := strconv.ParseInt(port, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange):
		v.diags.Errorf(r, "range", "want 1 to 65535", "metrics: listen %q: port %s is out of range", m.Listen, port)
		ok = false
	case err != nil:
		v.diags.Errorf(r, "address", example, "metrics: listen %q: port %q is not a number", m.Listen, port)
		ok = false
	case n < 1 || n > 65535:
		v.diags.Errorf(r, "range", "want 1 to 65535", "metrics: listen %q: port %d is out of range", m.Listen, n)
		ok = false
	}
	if !ok {
		return MetricsSettings{}
	}
	return MetricsSettings{Listen: net.JoinHostPort(host, strconv.FormatInt(n, 10))}
}

func (v *validator) netlink(nl *Netlink, d *Daemon) NetlinkSettings {
	out := NetlinkSettings{OverrunResync: Defaults.NetlinkOverrunResync}
	if nl == nil {
		return out
	}
	const where = "netlink"
	out.BufferSize = v.size(where, nl.Node, "buffer_size", nl.BufferSize, 1, Defaults.MaxSocketBuffer)
	out.BufferSizeMaxGrowth = v.size(where, nl.Node, "buffer_size_max_growth", nl.BufferSizeMaxGrowth, 1, Defaults.MaxSocketBuffer)
	if out.BufferSize > 0 && out.BufferSizeMaxGrowth > 0 && out.BufferSizeMaxGrowth < out.BufferSize {
		v.diags.Warnf(nl.AttrRange("buffer_size_max_growth"), "no-effect", "conntrackd ignores buffer_size in this case and keeps the system default",
			"netlink: buffer_size_max_growth %s is below buffer_size %s, so the buffer never grows",
			FormatSize(out.BufferSizeMaxGrowth), FormatSize(out.BufferSize))
	}
	if nl.OverrunResync != nil {
		if strings.EqualFold(strings.TrimSpace(*nl.OverrunResync), "off") {
			out.OverrunResync = 0
		} else {
			out.OverrunResync = v.seconds(where, nl.Node, "overrun_resync", nl.OverrunResync, Defaults.NetlinkOverrunResync, 0)
			if out.OverrunResync == 0 {
				v.diags.Errorf(nl.AttrRange("overrun_resync"), "range", `write "off" to disable the resync`,
					"netlink: overrun_resync %s is zero", *nl.OverrunResync)
				out.OverrunResync = Defaults.NetlinkOverrunResync
			}
		}
	}
	out.EventsReliable = boolOr(nl.EventsReliable, false)
	if out.EventsReliable && out.OverrunResync > 0 && nl.OverrunResync != nil {
		v.diags.Warnf(nl.AttrRange("overrun_resync"), "no-effect", "a reliable event socket never reports overruns; write "+v.example("overrun_resync off"),
			"netlink: overrun_resync has no effect with %s", v.setting("events_reliable", "true"))
	}
	if d != nil && d.PollInterval != nil {
		v.diags.Warnf(nl.DefRange, "no-effect", "polling mode (daemon poll_interval) opens no event socket",
			"netlink settings have no effect in polling mode")
	}
	return out
}

func (v *validator) scheduler(s *Scheduler) SchedulerSettings {
	out := SchedulerSettings{Policy: Defaults.SchedulerPolicy, Priority: Defaults.SchedulerPriority}
	if s == nil {
		return out
	}
	if s.Policy != nil {
		if i, ok := v.enum(s.AttrRange("policy"), "scheduler policy", *s.Policy, schedPolicyNames); ok {
			out.Policy = SchedPolicy(i)
		}
	}
	out.Priority = int(v.integer("scheduler", s.Node, "priority", s.Priority, int64(Defaults.SchedulerPriority), 0, 99))
	if out.Policy == SchedOther {
		if s.Priority != nil {
			v.diags.Warnf(s.AttrRange("priority"), "no-effect", "the normal scheduler has no priority",
				"scheduler: priority has no effect with policy \"other\"")
		}
		out.Priority = 0
		return out
	}
	if s.Priority != nil && *s.Priority == 0 {
		v.diags.Warnf(s.AttrRange("priority"), "range", "real-time priorities are 1 to 99",
			"scheduler: priority 0 is refused by the kernel for %s; the daemon keeps the normal scheduler", out.Policy)
	}
	return out
}

// ---- filter -------------------------------------------------------------

func (v *validator) filter(f *Filter) FilterSettings {
	out := FilterSettings{RunIn: Defaults.FilterRunIn}
	if f == nil {
		return out
	}
	if f.RunIn != nil {
		if i, ok := v.enum(f.AttrRange("run_in"), "filter run_in", *f.RunIn, runInNames); ok {
			out.RunIn = RunIn(i)
		}
	}
	seen := map[StageKind]Stage{}
	protoStage := -1
	var protoNode, stateNode Node
	var stateSeen bool
	for _, st := range f.Stages {
		i, ok := v.enum(labelRange(st.Node, 0), "filter stage kind", st.Kind, stageKindNames)
		if !ok {
			continue
		}
		kind := StageKind(i)
		if first, dup := seen[kind]; dup {
			v.diags.Errorf(labelRange(st.Node, 0), "duplicate", fmt.Sprintf("the first is at %s; merge the two lists", PosOf(first.DefRange)),
				"duplicate filter stage %q", kind)
			continue
		}
		seen[kind] = st
		fs, ok := v.stage(st, kind, out.RunIn)
		if !ok {
			continue
		}
		out.Stages = append(out.Stages, fs)
		switch kind {
		case StageProtocol:
			protoStage, protoNode = len(out.Stages)-1, st.Node
		case StageTCPState:
			stateNode, stateSeen = st.Node, true
		}
	}
	if stateSeen && protoStage >= 0 {
		ps := out.Stages[protoStage]
		if slices.Contains(ps.Protocols, protoTCP) == (ps.Policy == PolicyIgnore) {
			v.diags.Warnf(labelRange(stateNode, 0), "filter-dead", fmt.Sprintf("the protocol stage at %s drops every tcp flow", PosOf(protoNode.DefRange)),
				"filter stage \"tcp_state\" never sees a tcp flow")
		}
	}
	return out
}

func (v *validator) stage(st Stage, kind StageKind, runIn RunIn) (FilterStage, bool) {
	where := fmt.Sprintf("filter stage %q", kind)
	hasAccept := written(st.Node, "accept", st.Accept != nil)
	hasIgnore := written(st.Node, "ignore", st.Ignore != nil)
	out := FilterStage{Kind: kind}
	var list []string
	attr := "accept"
	switch {
	case hasAccept && hasIgnore:
		v.diags.Errorf(st.AttrRange("ignore"), "conflict", "a stage either keeps (accept) or drops (ignore) the flows in its list; use two stages of different kinds, or one list",
			"%s has both accept and ignore", where)
		return out, false
	case hasAccept:
		list = st.Accept
	case hasIgnore:
		out.Policy, list, attr = PolicyIgnore, st.Ignore, "ignore"
	default:
		v.diags.Errorf(st.DefRange, "missing-attribute", fmt.Sprintf("write accept to keep only the listed flows, or ignore to drop them, e.g. %s", v.example("stage "+kind.String())),
			"%s needs accept or ignore", where)
		return out, false
	}
	r := st.AttrRange(attr)
	ok := true
	entries := make(map[string]bool, len(list)) // canonical form, for duplicate detection
	add := func(i int, canon, shown string) bool {
		if entries[canon] {
			// Two spellings of one value ("icmpv6" and "58", "hopopt" and
			// "ip") are named as the model knows the value; the detail says
			// what was written.
			detail := ""
			if written := strconv.Quote(list[i]); written != shown {
				detail = fmt.Sprintf("%s is %s", written, shown)
			}
			v.diags.Warnf(st.ElemRange(attr, i), "duplicate", detail, "%s: %s lists %s twice", where, attr, shown)
			return false
		}
		entries[canon] = true
		return true
	}
	switch kind {
	case StageProtocol:
		for i, e := range list {
			p, good := v.protocol(st.ElemRange(attr, i), where, e)
			if !good {
				ok = false
				continue
			}
			if add(i, strconv.Itoa(p), protocolShown(p)) && p <= maxConntrackProtocol {
				out.Protocols = append(out.Protocols, uint8(p))
			}
		}
		if out.Policy == PolicyIgnore && len(out.Protocols) == maxConntrackProtocol+1 {
			v.diags.Errorf(r, "filter-empty", "", "%s ignores every protocol, so it drops every flow", where)
			ok = false
		}
		if ok && out.Policy == PolicyAccept && len(list) > 0 && len(out.Protocols) == 0 {
			v.diags.Errorf(r, "filter-empty", "an accept list keeps only the flows of the protocols it lists",
				"%s accepts no protocol a flow can have, so it drops every flow", where)
			ok = false
		}
	case StageAddress:
		for i, e := range list {
			p, good := v.prefix(st.ElemRange(attr, i), where, e)
			if !good {
				ok = false
				continue
			}
			if add(i, p.String(), p.String()) {
				out.Prefixes = append(out.Prefixes, p)
			}
		}
		if ok && out.Policy == PolicyAccept && len(out.Prefixes) > 0 {
			var v4, v6 bool
			for _, p := range out.Prefixes {
				v4, v6 = v4 || p.Addr().Is4(), v6 || p.Addr().Is6()
			}
			if v4 != v6 {
				has, lacks := "IPv4", "IPv6"
				if v6 {
					has, lacks = lacks, has
				}
				v.diags.Warnf(r, "filter-family", fmt.Sprintf("add %s entries (\"::/0\" or \"0.0.0.0/0\" keeps the whole family) if %s flows should be replicated", lacks, lacks),
					"%s accepts only %s addresses, so it drops every %s flow", where, has, lacks)
			}
		}
		if runIn == RunInKernel {
			var n4, n6 int
			for _, p := range out.Prefixes {
				if p.Addr().Is4() {
					n4++
				} else {
					n6++
				}
			}
			if n4 > Defaults.KernelFilterMaxIPv4 || n6 > Defaults.KernelFilterMaxIPv6 {
				v.diags.Errorf(r, "limit", fmt.Sprintf("the kernel filter holds at most %d IPv4 and %d IPv6 entries; use shorter prefixes or %s",
					Defaults.KernelFilterMaxIPv4, Defaults.KernelFilterMaxIPv6, v.example("run_in user")),
					"%s has %d IPv4 and %d IPv6 entries, too many for %s", where, n4, n6, v.setting("run_in", `"kernel"`))
				ok = false
			}
		}
	case StageTCPState:
		for i, e := range list {
			s, good := v.tcpState(st.ElemRange(attr, i), where, e)
			if !good {
				ok = false
				continue
			}
			if add(i, s.String(), strconv.Quote(s.String())) {
				out.TCPStates = append(out.TCPStates, s)
			}
		}
	}
	if len(list) == 0 {
		if out.Policy == PolicyAccept {
			v.diags.Errorf(r, "filter-empty", "an empty accept list keeps nothing; remove the stage to keep every flow",
				"%s accepts nothing, so it drops every flow", where)
			return out, false
		}
		v.diags.Warnf(r, "filter-empty", "remove the stage", "%s ignores nothing, so it has no effect", where)
	}
	return out, ok
}

// protocol resolves one filter protocol entry to its number. Numbers above
// 255 (mptcp) are conntrackd's too, but match no flow, which it says.
func (v *validator) protocol(r hcl.Range, where, e string) (int, bool) {
	n, name, found := ProtocolName(e)
	_, numErr := strconv.ParseUint(e, 10, 64)
	switch {
	case !found && numErr == nil:
		v.diags.Errorf(r, "protocol", "protocol numbers are 0 to 255", "%s: protocol number %s is out of range", where, e)
		return 0, false
	case !found:
		v.diags.Errorf(r, "protocol", "want a protocol name of /etc/protocols such as \"tcp\", \"udp\", \"sctp\", \"gre\", or a number 0 to 255"+DidYouMean(e, protocolWords),
			"%s: unknown protocol %q", where, e)
		return 0, false
	case numErr == nil, e == name, e == "icmpv6":
	case strings.EqualFold(e, name), strings.EqualFold(e, "icmpv6"):
		v.diags.Warnf(r, "case", fmt.Sprintf("write %q", strings.ToLower(e)), "%s: protocol %q should be written in lower case", where, e)
	default:
		v.diags.Warnf(r, "case", fmt.Sprintf("write %q", name), "%s: protocol %q is another name of %q", where, e, name)
	}
	if n > maxConntrackProtocol {
		v.diags.Warnf(r, "protocol", fmt.Sprintf("conntrack entries carry protocol numbers 0 to %d (the kernel tracks MPTCP subflows as tcp)", maxConntrackProtocol),
			"%s: protocol %q (%d) matches no flow", where, e, n)
	}
	return n, true
}

func (v *validator) prefix(r hcl.Range, where, e string) (netip.Prefix, bool) {
	e = strings.TrimSpace(e)
	if !strings.Contains(e, "/") {
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			v.diags.Errorf(r, "address", "want an address (192.0.2.1, 2001:db8::1) or a network (192.0.2.0/24, 2001:db8::/32)",
				"%s: %q is not an IP address", where, e)
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		detail := "want an address (192.0.2.1, 2001:db8::1) or a network (192.0.2.0/24, 2001:db8::/32)"
		if a, _, ok := strings.Cut(e, "/"); ok {
			if ad, err := netip.ParseAddr(a); err == nil {
				detail = fmt.Sprintf("an %s prefix length is 0 to %d", map[bool]string{true: "IPv4", false: "IPv6"}[ad.Is4()], ad.BitLen())
			}
		}
		v.diags.Errorf(r, "address", detail, "%s: %q is not an IP network", where, e)
		return netip.Prefix{}, false
	}
	if m := p.Masked(); m != p {
		v.diags.Warnf(r, "host-bits", fmt.Sprintf("did you mean %s? the network %s is used", m, m),
			"%s: %s has host bits set", where, e)
		p = m
	}
	return p, true
}

func (v *validator) tcpState(r hcl.Range, where, e string) (TCPState, bool) {
	// conntrackd also accepts CLOSED for CLOSE.
	if strings.EqualFold(e, "closed") {
		e = strings.Replace(strings.ToLower(e), "closed", "close", 1)
	}
	i, ok := v.enum(r, where+": tcp state", e, tcpStateNames)
	return TCPState(i), ok
}

// ---- caches -------------------------------------------------------------

var cacheTierNames = []string{"internal", "external"}

func (v *validator) caches(cs []Cache) CacheSettings {
	def := CacheTier{Enabled: true, Size: Defaults.HashSize, Limit: Defaults.HashLimit}
	out := CacheSettings{Internal: def, External: def}
	seen := map[int]Cache{}
	for _, c := range cs {
		i, ok := v.enum(labelRange(c.Node, 0), "cache tier", c.Tier, cacheTierNames)
		if !ok {
			continue
		}
		if first, dup := seen[i]; dup {
			v.diags.Errorf(labelRange(c.Node, 0), "duplicate", fmt.Sprintf("the first is at %s", PosOf(first.DefRange)),
				"duplicate cache %q", cacheTierNames[i])
			continue
		}
		seen[i] = c
		where := fmt.Sprintf("cache %q", cacheTierNames[i])
		t := CacheTier{
			Enabled: boolOr(c.Enabled, true),
			Size:    int(v.integer(where, c.Node, "size", c.Size, int64(Defaults.HashSize), 1, math.MaxInt32)),
			Limit:   int(v.integer(where, c.Node, "limit", c.Limit, int64(Defaults.HashLimit), 1, math.MaxInt32)),
		}
		if i == 0 {
			out.Internal = t
		} else {
			out.External = t
		}
	}
	return out
}

// ---- mode, sync, links, stats, helpers ------------------------------------

func (v *validator) mode(f *File, rt *Runtime) {
	switch {
	case f.Sync != nil && f.Stats != nil:
		first, second := f.Sync.DefRange, f.Stats.DefRange
		if second.Start.Byte < first.Start.Byte && second.Filename == first.Filename {
			first, second = second, first
		}
		v.diags.Errorf(second, "conflict", fmt.Sprintf("the daemon either replicates state (sync, at %s) or logs flows (stats, at %s); run two daemons for both",
			PosOf(f.Sync.DefRange), PosOf(f.Stats.DefRange)), "sync and stats cannot be used together")
		rt.Mode = ModeSync
	case f.Sync != nil:
		rt.Mode = ModeSync
	case f.Stats != nil:
		rt.Mode = ModeStats
	}
	if f.Sync != nil {
		rt.Sync = v.sync(f.Sync, f.Caches, rt.Caches)
		v.cacheModes(f.Caches, rt)
	}
	rt.Links = v.links(f.Links)
	switch {
	case f.Sync == nil && len(f.Links) > 0:
		v.diags.Errorf(f.Links[0].DefRange, "missing-block", fmt.Sprintf(`add %s (or "notrack", "alarm") to replicate state over the links`, v.example("sync")),
			"link %q has no sync block to serve", f.Links[0].Name)
	case f.Sync != nil && len(f.Links) == 0:
		v.diags.Errorf(f.Sync.DefRange, "missing-block", fmt.Sprintf("add a link block with its interface, peer and port, e.g. %s", v.example("link")),
			"sync %q needs at least one link", f.Sync.Mode)
	}
	if f.Stats != nil {
		rt.Stats = v.stats(f.Stats)
	}
	if f.Helpers != nil {
		rt.Helpers = v.helpers(f.Helpers)
	}
}

// syncModeOptions says which modes take each mode-specific sync option;
// options not listed are taken by every mode.
var syncModeOptions = map[string][]SyncMode{
	"resend_queue_size": {SyncFTFW},
	"ack_window_size":   {SyncFTFW},
	"startup_resync":    {SyncFTFW, SyncNotrack},
	"refresh_time":      {SyncAlarm},
	"cache_timeout":     {SyncAlarm},
}

func (v *validator) sync(s *Sync, caches []Cache, cs CacheSettings) SyncSettings {
	var out SyncSettings
	i, ok := v.enum(labelRange(s.Node, 0), "sync mode", s.Mode, syncModeNames)
	if !ok {
		if alt := map[string]string{"nack": "ftfw", "persistent": "alarm"}[strings.ToLower(s.Mode)]; alt != "" {
			v.diags[len(v.diags)-1].Detail = fmt.Sprintf("%q is the old name of %q; write %s", s.Mode, alt, v.example(map[string]string{"ftfw": "sync", "alarm": "sync alarm"}[alt]))
		}
		return out
	}
	out.Mode = SyncMode(i)
	where := fmt.Sprintf("sync %q", out.Mode)
	set := map[string]bool{
		"resend_queue_size": s.ResendQueueSize != nil,
		"ack_window_size":   s.ACKWindowSize != nil,
		"startup_resync":    s.StartupResync != nil,
		"refresh_time":      s.RefreshTime != nil,
		"cache_timeout":     s.CacheTimeout != nil,
	}
	takes := func(attr string) bool {
		modes := syncModeOptions[attr]
		if slices.Contains(modes, out.Mode) {
			return true
		}
		if set[attr] {
			names := make([]string, len(modes))
			for i, m := range modes {
				names[i] = m.String()
			}
			v.diags.Errorf(s.AttrRange(attr), "mode-option", fmt.Sprintf("%s is an option of sync %s", attr, orList(names)),
				"%s does not take %s", where, attr)
		}
		return false
	}
	if takes("resend_queue_size") {
		out.ResendQueueSize = int(v.integer(where, s.Node, "resend_queue_size", s.ResendQueueSize, int64(Defaults.ResendQueueSize), 1, math.MaxInt32))
	}
	if takes("ack_window_size") {
		out.ACKWindowSize = int(v.integer(where, s.Node, "ack_window_size", s.ACKWindowSize, int64(Defaults.ACKWindowSize), 1, math.MaxInt32))
		if out.ACKWindowSize > out.ResendQueueSize {
			v.diags.Warnf(s.AttrRange("ack_window_size"), "range", fmt.Sprintf("the resend queue holds %d messages; unacknowledged messages beyond it are lost and need a resync", out.ResendQueueSize),
				"%s: ack_window_size %d exceeds resend_queue_size %d", where, out.ACKWindowSize, out.ResendQueueSize)
		}
	}
	if takes("startup_resync") {
		out.StartupResync = boolOr(s.StartupResync, false)
	}
	if takes("refresh_time") {
		out.RefreshTime = v.seconds(where, s.Node, "refresh_time", s.RefreshTime, Defaults.RefreshTime, time.Second)
	}
	if takes("cache_timeout") {
		out.CacheTimeout = v.seconds(where, s.Node, "cache_timeout", s.CacheTimeout, Defaults.CacheTimeout, time.Second)
	}
	out.CommitTimeout = v.seconds(where, s.Node, "commit_timeout", s.CommitTimeout, Defaults.CommitTimeout, 0)
	out.PurgeTimeout = v.seconds(where, s.Node, "purge_timeout", s.PurgeTimeout, Defaults.PurgeTimeout, time.Second)
	if out.CommitTimeout > 0 && !cs.External.Enabled {
		detail := "received states go straight into the kernel table, so nothing is committed; conntrackd ignores it too"
		for _, c := range caches {
			if c.Tier == "external" {
				detail += fmt.Sprintf(" (cache \"external\" is disabled at %s)", PosOf(c.AttrRange("enabled")))
			}
		}
		v.diags.Warnf(s.AttrRange("commit_timeout"), "no-effect", detail, "%s: commit_timeout has no effect with the external cache disabled", where)
		out.CommitTimeout = 0
	}
	out.TCPWindowTracking = boolOr(s.TCPWindowTracking, false)
	out.ExpectationSync = boolOr(s.ExpectationSync, false)
	if len(s.ExpectationHelpers) > 0 {
		if s.ExpectationSync != nil && !*s.ExpectationSync {
			v.diags.Errorf(s.AttrRange("expectation_helpers"), "conflict", "remove expectation_helpers, or set "+v.setting("expectation_sync", "true"),
				"%s: expectation_helpers is set but expectation_sync is false", where)
		} else {
			out.ExpectationSync = true
		}
		r := s.AttrRange("expectation_helpers")
		listed := map[string]bool{}
		for _, h := range s.ExpectationHelpers {
			switch {
			case strings.TrimSpace(h) == "":
				v.diags.Errorf(r, "value", "list helper names such as \"ftp\"", "%s: expectation_helpers has an empty name", where)
			case listed[h]:
				v.diags.Warnf(r, "duplicate", "", "%s: expectation_helpers lists %q twice", where, h)
			default:
				listed[h] = true
				out.ExpectationHelpers = append(out.ExpectationHelpers, h)
			}
		}
	}
	return out
}

// cacheModes checks the cache tiers that only some sync modes can disable.
func (v *validator) cacheModes(caches []Cache, rt *Runtime) {
	for _, c := range caches {
		if c.Enabled == nil || *c.Enabled {
			continue
		}
		switch {
		case c.Tier == "internal" && rt.Sync.Mode != SyncNotrack:
			v.diags.Errorf(c.AttrRange("enabled"), "conflict", "only sync \"notrack\" can run without an internal cache; ftfw and alarm resend from it",
				"cache \"internal\" cannot be disabled with sync %q", rt.Sync.Mode)
		case c.Tier == "external" && rt.Sync.Mode == SyncAlarm:
			v.diags.Errorf(c.AttrRange("enabled"), "conflict", "alarm expires peer states from the external cache (cache_timeout); use ftfw or notrack",
				"cache \"external\" cannot be disabled with sync \"alarm\"")
		}
	}
}

// linkTransportOptions says which transports take each transport-specific
// link attribute; attributes not listed are taken by every transport.
var linkTransportOptions = []struct {
	attr       string
	transports []Transport
}{
	{"group", []Transport{TransportMulticast}},
	{"interface_address", []Transport{TransportMulticast}},
	{"local", []Transport{TransportUDP, TransportTCP}},
	{"peer", []Transport{TransportUDP, TransportTCP}},
	{"error_queue_length", []Transport{TransportTCP}},
}

func (v *validator) links(ls []Link) []LinkSettings {
	var out []LinkSettings
	names := map[string]Link{}
	var firstTransport *Link
	var firstDefault *Link
	for i := range ls {
		l := &ls[i]
		if i == Defaults.MaxLinks {
			v.diags.Errorf(l.DefRange, "limit", fmt.Sprintf("conntrackd supports at most %d links; remove link %q and the ones after it", Defaults.MaxLinks, l.Name),
				"too many links")
		}
		if strings.TrimSpace(l.Name) == "" {
			v.diags.Errorf(labelRange(l.Node, 0), "value", "name the link, e.g. "+v.example("link"), "link name is empty")
		} else if first, dup := names[l.Name]; dup {
			v.diags.Errorf(labelRange(l.Node, 0), "duplicate", fmt.Sprintf("the first is at %s", PosOf(first.DefRange)), "duplicate link %q", l.Name)
		} else {
			names[l.Name] = *l
		}
		ti, ok := v.enum(l.AttrRange("transport"), fmt.Sprintf("link %q: transport", l.Name), l.Transport, transportNames)
		if !ok {
			continue
		}
		t := Transport(ti)
		if firstTransport == nil {
			firstTransport = l
		} else if ft := firstTransport.Transport; !strings.EqualFold(ft, l.Transport) {
			v.diags.Errorf(l.AttrRange("transport"), "conflict", fmt.Sprintf("link %q at %s uses %q; conntrackd cannot mix transports", firstTransport.Name, PosOf(firstTransport.AttrRange("transport")), strings.ToLower(ft)),
				"links must use one transport: link %q uses %q", l.Name, t)
		}
		if boolOr(l.Default, false) {
			if firstDefault == nil {
				firstDefault = l
			} else {
				v.diags.Errorf(l.AttrRange("default"), "conflict", fmt.Sprintf("link %q at %s is already the default; only one link is active at start-up", firstDefault.Name, PosOf(firstDefault.AttrRange("default"))),
					"link %q: more than one link has %s", l.Name, v.setting("default", "true"))
			}
		}
		if s, good := v.link(l, t); good {
			out = append(out, s)
		}
	}
	active := -1
	for i, l := range out {
		if l.Default {
			active = i
			break
		}
	}
	for i := range out {
		out[i].Default = i == active || (active < 0 && i == 0)
	}
	return out
}

func (v *validator) link(l *Link, t Transport) (LinkSettings, bool) {
	where := fmt.Sprintf("link %q", l.Name)
	out := LinkSettings{
		Name:      l.Name,
		Transport: t,
		Default:   boolOr(l.Default, false),
		Checksum:  boolOr(l.Checksum, Defaults.Checksum),
	}
	start := len(v.diags)
	set := map[string]bool{
		"group":              l.Group != nil,
		"interface_address":  l.InterfaceAddress != nil,
		"local":              l.Local != nil,
		"peer":               l.Peer != nil,
		"error_queue_length": l.ErrorQueueLength != nil,
	}
	for _, o := range linkTransportOptions {
		if set[o.attr] && !slices.Contains(o.transports, t) {
			names := make([]string, len(o.transports))
			for i, tt := range o.transports {
				names[i] = tt.String()
			}
			v.diags.Errorf(l.AttrRange(o.attr), "transport-option", fmt.Sprintf("%s is an option of transport %s", o.attr, orList(names)),
				"%s: transport %q does not take %s", where, t, o.attr)
			set[o.attr] = false
		}
	}

	// Interface: the legacy daemon refuses to start without it.
	if l.Interface == nil || strings.TrimSpace(*l.Interface) == "" {
		v.diags.Errorf(l.AttrRange("interface"), "missing-attribute", "the link's interface gives its MTU and is watched for fail-over",
			"%s: interface is required", where)
	} else {
		out.Interface = *l.Interface
		if !v.opts.InterfaceExists(out.Interface) {
			d := Diagnostic{Pos: PosOf(l.AttrRange("interface")), Severity: Warning, Code: "interface-absent",
				Message: fmt.Sprintf("%s: interface %q does not exist on this host", where, out.Interface),
				Detail:  "the daemon cannot open the link until it exists; --strict makes this an error"}
			if v.opts.Strict {
				// The daemon is always strict: no flag to name.
				d.Severity, d.Detail = Error, "the daemon cannot open the link until it exists"
			}
			v.diags = append(v.diags, d)
		}
	}

	// Addresses, and the family they give the link.
	type fam struct {
		attr string
		a    netip.Addr
	}
	var fams []fam
	parse := func(attr string, p *string) netip.Addr {
		if p == nil || !set[attr] {
			return netip.Addr{}
		}
		a, ok := v.addr(where, l.Node, attr, *p)
		if ok {
			fams = append(fams, fam{attr, a})
		}
		return a
	}
	out.Group = parse("group", l.Group)
	out.InterfaceAddress = parse("interface_address", l.InterfaceAddress)
	out.Local = parse("local", l.Local)
	out.Peer = parse("peer", l.Peer)
	for _, f := range fams[min(1, len(fams)):] {
		if f.a.Is4() != fams[0].a.Is4() {
			v.diags.Errorf(l.AttrRange(f.attr), "address-family", "write every address of a link in one family",
				"%s: %s %s is %s but %s %s is %s", where, f.attr, f.a, familyName(f.a), fams[0].attr, fams[0].a, familyName(fams[0].a))
		}
	}
	switch t {
	case TransportMulticast:
		if l.Group == nil {
			v.diags.Errorf(l.DefRange, "missing-attribute", fmt.Sprintf("e.g. %s (IPv4) or %s (IPv6)", v.example("group"), v.example("group6")),
				"%s: group is required for transport \"multicast\"", where)
		} else if out.Group.IsValid() && !out.Group.IsMulticast() {
			v.diags.Errorf(l.AttrRange("group"), "address", "IPv4 multicast is 224.0.0.0/4, IPv6 multicast ff00::/8",
				"%s: group %s is not a multicast address", where, out.Group)
		}
		if out.InterfaceAddress.IsValid() && out.InterfaceAddress.IsMulticast() {
			v.diags.Errorf(l.AttrRange("interface_address"), "address", "write the address of the local interface that joins the group",
				"%s: interface_address %s is a multicast address", where, out.InterfaceAddress)
		}
	case TransportUDP:
		if l.Peer == nil {
			v.diags.Errorf(l.DefRange, "missing-attribute", "the address of the other firewall, e.g. "+v.example("peer"),
				"%s: peer is required for transport \"udp\"", where)
		}
	case TransportTCP:
		if l.Peer == nil && l.Local == nil {
			v.diags.Errorf(l.DefRange, "missing-attribute", "local is the address to listen on, peer the address to connect to",
				"%s: transport \"tcp\" needs peer or local", where)
		}
	}
	for _, a := range []struct {
		attr string
		a    netip.Addr
	}{{"local", out.Local}, {"peer", out.Peer}} {
		if a.a.IsValid() && a.a.IsMulticast() {
			v.diags.Errorf(l.AttrRange(a.attr), "address", "use transport \"multicast\" with group for a multicast address",
				"%s: %s %s is a multicast address", where, a.attr, a.a)
		}
	}
	if out.Peer.IsValid() && out.Peer.IsUnspecified() {
		v.diags.Errorf(l.AttrRange("peer"), "address", "write the address of the other firewall", "%s: peer %s is not a host address", where, out.Peer)
	}

	// Port.
	switch {
	case l.Port == nil:
		v.diags.Errorf(l.AttrRange("port"), "missing-attribute", "both firewalls use the same port, e.g. "+v.example("port"),
			"%s: port is required", where)
	case *l.Port == 0:
		v.diags.Errorf(l.AttrRange("port"), "range", "want 1 to 65535; both firewalls use the same port", "%s: port is required: 0 is not a port", where)
	case *l.Port < 0 || *l.Port > 65535:
		v.diags.Errorf(l.AttrRange("port"), "range", "want 1 to 65535", "%s: port %d is out of range", where, *l.Port)
	default:
		out.Port = uint16(*l.Port)
	}

	out.SendBuffer = v.size(where, l.Node, "send_buffer", l.SendBuffer, 1, Defaults.MaxSocketBuffer)
	out.ReceiveBuffer = v.size(where, l.Node, "receive_buffer", l.ReceiveBuffer, 1, Defaults.MaxSocketBuffer)
	if t == TransportTCP {
		out.ErrorQueueLength = int(v.integer(where, l.Node, "error_queue_length", l.ErrorQueueLength, int64(Defaults.ErrorQueueLength), 1, math.MaxInt32))
	}
	if !out.Checksum {
		switch {
		case t == TransportTCP:
			v.diags.Warnf(l.AttrRange("checksum"), "no-effect", "TCP always carries a checksum", "%s: %s has no effect on transport \"tcp\"", where, v.setting("checksum", "false"))
		case out.Group.Is6() || out.Peer.Is6() || out.Local.Is6():
			v.diags.Warnf(l.AttrRange("checksum"), "no-effect", "IPv6 requires UDP checksums", "%s: %s has no effect on IPv6", where, v.setting("checksum", "false"))
		}
	}
	return out, !Diagnostics(v.diags[start:]).HasErrors()
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (v *validator) stats(s *Stats) StatsSettings {
	out := StatsSettings{
		LogFile: v.path("stats", s.Node, "log_file", s.LogFile, "", Defaults.MaxPath),
		Syslog:  v.facility("stats", s.Node, "syslog", s.Syslog),
	}
	if s.LogFile == nil && s.Syslog == nil {
		v.diags.Warnf(s.DefRange, "no-effect", "set log_file or syslog", "stats logs nothing")
	}
	return out
}

// helperProtocols are the user-space helpers conntrackd ships, with the
// transport protocols each supports (checked against conntrackd 1.4.7).
var helperProtocols = map[string][]string{
	"amanda": {"udp"}, "dhcpv6": {"udp"}, "ftp": {"tcp"}, "mdns": {"udp"}, "rpc": {"tcp", "udp"},
	"sane": {"tcp"}, "slp": {"udp"}, "ssdp": {"tcp", "udp"}, "tftp": {"udp"}, "tns": {"tcp"},
}

func (v *validator) helpers(h *Helpers) HelpersSettings {
	out := HelpersSettings{Enabled: true, Setup: boolOr(h.Setup, false)}
	known := make([]string, 0, len(helperProtocols))
	for n := range helperProtocols {
		known = append(known, n)
	}
	slices.Sort(known)
	type key struct {
		name  string
		fam   Family
		proto uint8
	}
	seen := map[key]Helper{}
	for _, hp := range h.Helper {
		start := len(v.diags)
		where := fmt.Sprintf("helper %q", hp.Name)
		hs := HelperSettings{Name: hp.Name}
		ni, nameOK := v.enum(labelRange(hp.Node, 0), "helper", hp.Name, known)
		if nameOK {
			hs.Name = known[ni]
			where = fmt.Sprintf("helper %q", hs.Name)
		}
		if fi, ok := v.enum(labelRange(hp.Node, 1), where+": family", hp.Family, []string{"inet", "inet6"}); ok {
			hs.Family = []Family{FamilyInet, FamilyInet6}[fi]
		}
		if pi, ok := v.enum(labelRange(hp.Node, 2), where+": protocol", hp.Protocol, []string{"tcp", "udp"}); ok {
			hs.Protocol = []uint8{protoTCP, protoUDP}[pi]
			if p := []string{"tcp", "udp"}[pi]; nameOK && !slices.Contains(helperProtocols[hs.Name], p) {
				v.diags.Errorf(labelRange(hp.Node, 2), "conflict", fmt.Sprintf("helper %s works over %s", hs.Name, orList(helperProtocols[hs.Name])),
					"%s does not support protocol %q", where, p)
			}
		}
		hs.QueueNum = uint16(v.integer(where, hp.Node, "queue_num", hp.QueueNum, 0, 0, math.MaxUint16))
		hs.QueueLen = uint32(v.integer(where, hp.Node, "queue_len", hp.QueueLen, 0, 0, math.MaxUint32))
		policies := map[string]HelperPolicy{}
		for _, p := range hp.Policies {
			pw := fmt.Sprintf("%s: policy %q", where, p.Name)
			if first, dup := policies[p.Name]; dup {
				v.diags.Errorf(labelRange(p.Node, 0), "duplicate", fmt.Sprintf("the first is at %s", PosOf(first.DefRange)), "%s: duplicate policy %q", where, p.Name)
				continue
			}
			policies[p.Name] = p
			if nameOK && p.Name != hs.Name {
				v.diags.Errorf(labelRange(p.Node, 0), "enum", fmt.Sprintf("helper %s defines one policy, %q", hs.Name, hs.Name), "%s: unknown policy %q", where, p.Name)
			}
			if p.ExpectMax == nil && p.ExpectTimeout == nil {
				v.diags.Errorf(p.DefRange, "missing-attribute", "set expect_max and expect_timeout; a field not written is zero", "%s is empty", pw)
			}
			hs.Policies = append(hs.Policies, HelperPolicySettings{
				Name:          p.Name,
				ExpectMax:     uint32(v.integer(pw, p.Node, "expect_max", p.ExpectMax, 0, 0, math.MaxUint32)),
				ExpectTimeout: v.seconds(pw, p.Node, "expect_timeout", p.ExpectTimeout, 0, 0),
			})
		}
		k := key{hs.Name, hs.Family, hs.Protocol}
		if first, dup := seen[k]; dup && !Diagnostics(v.diags[start:]).HasErrors() {
			v.diags.Errorf(labelRange(hp.Node, 0), "duplicate", fmt.Sprintf("the first is at %s", PosOf(first.DefRange)),
				"duplicate helper %q for %s %s", hs.Name, hs.Family, hp.Protocol)
			continue
		}
		seen[k] = hp
		if !Diagnostics(v.diags[start:]).HasErrors() {
			out.Helpers = append(out.Helpers, hs)
		}
	}
	return out
}
