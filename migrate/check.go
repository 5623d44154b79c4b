package migrate

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/internal/ipproto"
)

// The checks below are conntrackd 1.4.7's grammar actions: they run when
// the parser finishes a directive or closes a block, in the order bison
// reduces the rules, so a fatal error is reported exactly where conntrackd
// stops.

const (
	// MULTICHANNEL_MAX, UNIX_PATH_MAX and FILENAME_MAXLEN are
	// config.Defaults.MaxLinks, MaxControlPath (+1) and MaxPath, which the
	// model shares.
	helperNameLen   = 16        // CTD_HELPER_NAME_LEN
	intMax          = 1<<31 - 1 // INT_MAX: what conntrackd's atoi keeps intact
	facilityUnset   = ""
	helperItemQueue = "queue"
	helperItemLeaf  = "leaf"
	helperItemRoot  = "root"
)

type linkState struct {
	kind       string
	ifname     bool
	index6     bool
	family     int // 0, 4 or 6 (Multicast: the ipproto of the channel)
	options    int
	seenFamily map[int]config.Pos
}

type helperItem struct {
	kind string
	name string
	pos  config.Pos
}

type legacyState struct {
	sync, stats      bool
	links            int
	linkType         string
	link             *linkState
	generalFacility  string
	statsFacility    string
	helperStack      []helperItem
	ipv4Nets         map[string]bool
	netmasks4        []netmask4       // user-space IPv4 networks, as conntrackd lists them
	kernel4, kernel6 []filterEntry    // the kernel filter's address lists
	setPolicy        map[string]Token // filter kind -> last Accept/Ignore
	filterFrom       *Token
	scalars          map[string]config.Pos
	schedType        bool
	schedPrio        *config.Pos
	nlBuf, nlMax     int64
	nlBufPos         *config.Pos
	nlMaxSet         bool
	commitTimeout    *config.Pos
	disableExternal  bool
	scalarScopeIndex int
}

func (s *legacyState) init() {
	s.ipv4Nets = map[string]bool{}
	s.setPolicy = map[string]Token{}
	s.scalars = map[string]config.Pos{}
}

func (p *parser) ifaceExists(name string) bool {
	if p.opts.InterfaceExists != nil {
		return p.opts.InterfaceExists(name)
	}
	_, err := net.InterfaceByName(name)
	return err == nil
}

// open runs when a block's "{" has been read.
func (p *parser) open(d *Directive) {
	switch d.Path {
	case "Sync.Multicast", "Sync.UDP", "Sync.TCP":
		p.st.link = &linkState{kind: d.Keyword, seenFamily: map[int]config.Pos{}}
		p.st.scalarScopeIndex++
	}
}

// close runs when a block's "}" has been read (bison's reduction).
func (p *parser) close(d *Directive) {
	st := &p.st
	switch d.Path {
	case "Sync":
		if st.stats {
			p.fail(d.End, "sync-and-stats", "Sync and Stats cannot be used together",
				"conntrackd: \"cannot use both `Stats' and `Sync' clauses in conntrackd.conf\"; a daemon either synchronises or logs statistics")
		}
		st.sync = true
	case "Stats":
		if st.sync {
			p.fail(d.End, "sync-and-stats", "Sync and Stats cannot be used together",
				"conntrackd: \"cannot use both `Stats' and `Sync' clauses in conntrackd.conf\"; a daemon either synchronises or logs statistics")
		}
		st.stats = true
	case "Sync.Multicast", "Sync.UDP", "Sync.TCP":
		if st.linkType != "" && st.linkType != d.Keyword {
			p.fail(d.Pos, "link-transport", fmt.Sprintf("cannot mix %s links with %s links", d.Keyword, st.linkType),
				"all dedicated links of conntrackd use one transport")
		}
		st.linkType = d.Keyword
		if st.links >= config.Defaults.MaxLinks && st.link.options == 0 {
			p.quirk(d.Pos, "empty-links-overflow", fmt.Sprintf("link #%d exceeds the maximum of %d links", st.links+1, config.Defaults.MaxLinks),
				"conntrackd 1.4.7 does not notice an extra link block without options and overflows its link table; remove it")
		}
		st.links++
		st.link = nil
	case "General.Filter":
		from := "Userspace"
		if len(d.Args) == 2 {
			from = d.Args[1].Text
		}
		if st.filterFrom != nil && st.filterFrom.Text != from {
			p.quirk(d.Pos, "filter-from-last", fmt.Sprintf("Filter From %s replaces Filter From %s of line %d", from, st.filterFrom.Text, st.filterFrom.Pos.Line),
				"the choice is global in conntrackd: the last Filter header decides for every filter")
		}
		st.filterFrom = &Token{Text: from, Pos: d.Pos}
	case "General.Filter.Protocol", "General.Filter.Address", "General.Filter.State":
		pol := d.Args[0]
		if prev, ok := st.setPolicy[d.Path]; ok && prev.Text != pol.Text {
			p.quirk(pol.Pos, "filter-policy-merge", fmt.Sprintf("%s %s merges with %s %s of line %d", d.Keyword, pol.Text, d.Keyword, prev.Text, prev.Pos.Line),
				fmt.Sprintf("conntrackd keeps one %s set with the policy written last (%s) for all its entries", d.Keyword, pol.Text))
		}
		st.setPolicy[d.Path] = pol
	case "Helper.Type.Policy":
		found := -1
		for i := len(st.helperStack) - 1; i >= 0; i-- {
			if st.helperStack[i].kind == helperItemLeaf {
				found = i
				break
			}
		}
		if found < 0 {
			p.fail(d.End, "helper-policy", fmt.Sprintf("policy %s has no settings", d.Args[0].Text),
				"set ExpectMax and/or ExpectTimeout; conntrackd: \"Helper policy configuration empty\"")
		}
		name := d.Args[0].Text
		if len(name) > helperNameLen {
			p.fail(d.Args[0].Pos, "helper-policy", fmt.Sprintf("policy name %q is longer than %d characters", name, helperNameLen), "")
		}
		st.helperStack = append(st.helperStack[:found], st.helperStack[found+1:]...)
		st.helperStack = append(st.helperStack, helperItem{kind: helperItemRoot, name: name, pos: d.Args[0].Pos})
	case "Helper.Type":
		p.closeHelperType(d)
	}
}

func (p *parser) closeHelperType(d *Directive) {
	name, l3, l4 := d.Args[0], d.Args[1], d.Args[2]
	if l3.Text != "inet" && l3.Text != "inet6" {
		p.fail(l3.Pos, "helper", fmt.Sprintf("unknown layer 3 protocol %q", l3.Text), "expected inet or inet6 (lower case)")
	}
	if l4.Text != "tcp" && l4.Text != "udp" {
		p.fail(l4.Pos, "helper", fmt.Sprintf("unknown layer 4 protocol %q", l4.Text), "expected tcp or udp (lower case)")
	}
	var plugin *HelperPlugin
	var names []string
	for i, h := range Helpers {
		names = append(names, h.Name)
		if h.Name != name.Text {
			continue
		}
		for _, x := range h.L4 {
			if x == l4.Text {
				plugin = &Helpers[i]
			}
		}
		if plugin == nil {
			p.fail(name.Pos, "helper", fmt.Sprintf("helper %s does not handle %s", name.Text, l4.Text),
				fmt.Sprintf("the %s plug-in registers only %s; conntrackd: \"Unknown `%s' helper\"", name.Text, strings.Join(h.L4, " and "), name.Text))
		}
	}
	if plugin == nil {
		p.fail(name.Pos, "helper", fmt.Sprintf("unknown helper %q", name.Text),
			"conntrackd 1.4.7 ships: "+strings.Join(names, " "))
	}
	// The Type action pops every pending item, including those written
	// before it directly in Helper or inside an enclosing Type.
	items := p.st.helperStack
	p.st.helperStack = nil
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if it.kind != helperItemRoot {
			continue
		}
		ok := false
		for _, pol := range plugin.Policies {
			if pol == truncate(it.name, helperNameLen-1) {
				ok = true
			}
		}
		if !ok {
			p.fail(it.pos, "helper-policy", fmt.Sprintf("helper %s has no policy %q", plugin.Name, it.name),
				fmt.Sprintf("policies of %s: %s", plugin.Name, strings.Join(plugin.Policies, " ")))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// item runs for each member of a set.
func (p *parser) item(set *Directive, it *Directive) {
	t := it.Args[0]
	switch set.Path {
	case "General.Filter.Protocol", "IgnoreProtocol":
		if t.Kind == TokNumber {
			if atoi(t.Text) >= 256 {
				p.warn(t.Pos, "unknown-protocol", fmt.Sprintf("protocol number %s is out of range", t.Text), "protocol numbers are 0-255")
			}
			return
		}
		if _, known := ipproto.ByName(t.Text); t.Kind == TokWord && !known {
			p.warn(t.Pos, "unknown-protocol", fmt.Sprintf("unknown protocol %q", t.Text),
				"conntrackd skips it (getprotobyname() cannot find it in /etc/protocols; names are case-sensitive)"+protocolFold(t.Text))
		}
	}
}

// protocolFold suggests the name conntrackd would resolve for a protocol
// written in the wrong case ("Tcp", "ipsec-esp": the official name) or
// misspelt ("sctpp").
func protocolFold(text string) string {
	if e, ok := ipproto.Fold(text); ok {
		text = e.Name // an official name, which Suggest returns as it is
	}
	return config.DidYouMean(text, protocolNames)
}

// protocolNames are the official protocol names, the ones suggested.
var protocolNames = ipproto.OfficialNames()

func (p *parser) linkPath(path string) (kind, opt string, ok bool) {
	for _, k := range []string{"Multicast", "UDP", "TCP"} {
		if rest, found := strings.CutPrefix(path, "Sync."+k+"."); found {
			return k, rest, true
		}
	}
	return "", "", false
}

// leaf runs after a directive's value (and block) has been read.
func (p *parser) leaf(k *Keyword, d *Directive) {
	st := &p.st
	for _, a := range d.Args {
		p.tokenQuirks(a)
	}
	var v Token
	if len(d.Args) > 0 {
		v = d.Args[len(d.Args)-1]
	}
	if kind, opt, ok := p.linkPath(d.Path); ok {
		p.linkOption(kind, opt, d, v)
		return
	}
	if k.Shape < ShapeMode && k.Shape != ShapeBlock && k.Shape != ShapeNone && !d.Item &&
		!strings.HasPrefix(d.Path, "Helper.") && !strings.Contains(d.Path, "Address.") && !strings.HasPrefix(d.Path, "IgnoreTrafficFor.") {
		p.duplicate(d, d.Path)
	}
	switch d.Path {
	case "General.LogFile", "General.LockFile", "Stats.LogFile":
		if v.Kind == TokPath && len(v.Text) > config.Defaults.MaxPath {
			p.fail(v.Pos, "path-too-long", fmt.Sprintf("%s path is %d characters long, more than %d", d.Keyword, len(v.Text), config.Defaults.MaxPath), "")
		}
	case "General.UNIX.Path":
		if len(v.Text) > config.Defaults.MaxControlPath {
			p.fail(v.Pos, "path-too-long", fmt.Sprintf("UNIX socket path is %d characters long, more than %d", len(v.Text), config.Defaults.MaxControlPath), "")
		}
	case "General.Syslog", "Stats.Syslog":
		fac := ""
		if v.Kind == TokBool {
			if on, _ := v.Bool(); on {
				fac = "daemon"
			}
		} else if v.Text == "daemon" || len(v.Text) == 6 && strings.HasPrefix(v.Text, "local") && v.Text[5] >= '0' && v.Text[5] <= '7' {
			fac = v.Text
		} else {
			p.warn(v.Pos, "unknown-facility", fmt.Sprintf("unknown syslog facility %q", v.Text),
				"conntrackd ignores it; expected daemon or local0 to local7 (lower case)")
			return
		}
		mine, other := &st.generalFacility, st.statsFacility
		if d.Path == "Stats.Syslog" {
			mine, other = &st.statsFacility, st.generalFacility
		}
		*mine = fac
		if v.Kind == TokWord && other != "" && fac != other {
			p.warn(v.Pos, "conflicting-facility", "conflicting Syslog facilities in General and Stats",
				"conntrackd logs with the General facility")
		}
	case "General.UNIX.Backlog":
		p.warn(d.Pos, "deprecated", "UNIX Backlog is ignored since conntrackd 1.4.5", "the listen backlog is fixed at 100; delete it")
	case "General.Nice":
		p.warn(d.Pos, "deprecated", "Nice is ignored since conntrackd 1.4.5", "set the nice value with nice(1) or the service manager; delete it")
	case "General.Scheduler.Type":
		if !strings.EqualFold(v.Text, "rr") && !strings.EqualFold(v.Text, "fifo") {
			p.fail(v.Pos, "scheduler", fmt.Sprintf("unknown scheduler %q", v.Text), "expected RR or FIFO")
		}
		st.schedType = true
	case "General.Scheduler.Priority":
		if n := atoi(v.Text); n < 0 || n > 99 {
			p.fail(v.Pos, "scheduler", fmt.Sprintf("scheduler priority %s is out of range", v.Text), "expected 0 to 99")
		}
		pos := d.Pos
		st.schedPrio = &pos
	case "General.PollSecs":
		if atoi(v.Text) == 0 {
			p.fail(v.Pos, "poll-secs", "PollSecs must be greater than 0", "remove PollSecs to use kernel events instead of polling")
		}
	case "General.NetlinkBufferSize", "General.SocketBufferSize":
		st.nlBuf = atoi(v.Text)
		pos := d.Pos
		st.nlBufPos = &pos
	case "General.NetlinkBufferSizeMaxGrowth", "General.SocketBufferSizeMaxGrown", "General.SocketBufferSizeMaxGrowth":
		st.nlMax, st.nlMaxSet = atoi(v.Text), true
	case "General.Filter.Address.IPv4_address", "General.Filter.Address.IPv6_address", "IgnoreTrafficFor.IPv4_address", "IgnoreTrafficFor.IPv6_address":
		p.filterAddress(d, v)
	}
	if strings.HasSuffix(d.Path, ".CommitTimeout") {
		pos := d.Pos
		st.commitTimeout = &pos
		if atoi(v.Text) == 0 {
			st.commitTimeout = nil
		}
	}
	if strings.HasSuffix(d.Path, ".DisableExternalCache") {
		st.disableExternal, _ = v.Bool()
	}
	switch {
	case d.Path == "Helper.Type.QueueNum" || d.Path == "Helper.Type.QueueLen":
		st.helperStack = append(st.helperStack, helperItem{kind: helperItemQueue})
	case strings.HasPrefix(d.Path, "Helper.Type.Policy."):
		for _, it := range st.helperStack {
			if it.kind == helperItemLeaf {
				return
			}
		}
		st.helperStack = append(st.helperStack, helperItem{kind: helperItemLeaf})
	}
}

// duplicate reports a scalar written twice in one scope (last one wins).
func (p *parser) duplicate(d *Directive, key string) {
	if prev, ok := p.st.scalars[key]; ok {
		p.quirk(d.Pos, "duplicate-scalar", fmt.Sprintf("%s is set again; the value of line %d is discarded", d.Keyword, prev.Line),
			"conntrackd keeps the last value silently")
	}
	p.st.scalars[key] = d.Pos
}

func (p *parser) tokenQuirks(t Token) {
	switch t.Kind {
	case TokPath:
		if i := strings.IndexAny(t.Text, "\t#}\r"); i >= 0 {
			p.quirk(t.Pos, "path-swallows", fmt.Sprintf("path %q contains %q", t.Text, t.Text[i:i+1]),
				"conntrackd ends a path only at a space, newline or double quote, so this character is part of the file name")
		}
	case TokBool:
		if strings.ContainsRune(t.Text, '|') {
			v, _ := t.Bool()
			p.quirk(t.Pos, "bool-pipe", fmt.Sprintf("%q is read as the boolean %v", t.Text, map[bool]string{true: "on", false: "off"}[v]),
				"write on or off")
		}
	case TokNumber:
		if n, err := strconv.ParseInt(t.Text, 10, 64); err != nil || n > intMax {
			p.quirk(t.Pos, "number-overflow", fmt.Sprintf("number %s is too large; conntrackd reads it as %d", t.Text, atoi(t.Text)), "")
		}
	case TokIPv4:
		for _, g := range strings.Split(strings.SplitN(t.Text, "/", 2)[0], ".") {
			if len(g) > 1 && g[0] == '0' {
				if a, ok := inetAton(t.Text); ok {
					p.quirk(t.Pos, "octal-ipv4", fmt.Sprintf("%s has a leading zero and is read as octal: %s", t.Text, a), "write the address without leading zeros")
				}
				break
			}
		}
	}
}

// inetAton mimics glibc inet_aton on the dotted-quad tokens the lexer makes:
// each group is decimal, or octal with a leading zero, and must fit a byte.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, g := range parts {
		if g == "" {
			return netip.Addr{}, false
		}
		base := 10
		if len(g) > 1 && g[0] == '0' {
			base = 8
		}
		n, err := strconv.ParseUint(g, base, 64)
		if err != nil || n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// inetPton6 mimics inet_pton(AF_INET6) on the tokens the lexer makes.
func inetPton6(s string) bool {
	if !strings.Contains(s, ":") {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

func (p *parser) linkOption(kind, opt string, d *Directive, v Token) {
	st := &p.st
	l := st.link
	if opt != "IPv6_interface" {
		if st.links >= config.Defaults.MaxLinks {
			p.fail(d.Pos, "too-many-links", fmt.Sprintf("too many dedicated links: this is link #%d, the maximum is %d", st.links+1, config.Defaults.MaxLinks), "")
		}
		l.options++
	}
	switch opt {
	case "IPv4_address", "IPv6_address", "IPv4_Destination_Address", "IPv6_Destination_Address", "Interface", "Port", "Group",
		"SndSocketBuffer", "RcvSocketBuffer", "Checksum", "McastSndSocketBuffer", "McastRcvSocketBuffer", "IPv4_interface":
		key := fmt.Sprintf("link%d.%s", st.scalarScopeIndex, strings.TrimPrefix(opt, "Mcast"))
		p.duplicate(d, key)
	}
	switch opt {
	case "IPv4_address", "IPv4_Destination_Address", "IPv4_interface":
		if _, ok := inetAton(v.Text); !ok {
			p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid IPv4 address", v.Text), invalidAddrDetail(v, 4))
			return
		}
		if kind == "Multicast" {
			if l.family == 6 {
				what := "address"
				if opt == "IPv4_interface" {
					what = "interface"
				}
				p.warn(d.Pos, "link-family", fmt.Sprintf("IPv4 multicast %s in a link that uses IPv6", what),
					"conntrackd ignores it (\"your multicast "+what+" is IPv4 but is binded to an IPv6 interface?\")")
				return
			}
		} else {
			p.mixedFamily(l, d, 4)
		}
		l.family = 4
	case "IPv6_address", "IPv6_Destination_Address":
		if !inetPton6(v.Text) {
			p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid IPv6 address", v.Text), invalidAddrDetail(v, 6))
			return
		}
		if kind == "Multicast" {
			if l.family == 4 {
				p.warn(d.Pos, "link-family", "IPv6 multicast address in a link that uses IPv4",
					"conntrackd ignores it (\"your multicast address is IPv6 but is binded to an IPv4 interface?\")")
				return
			}
			l.family = 6
			if l.ifname && !l.index6 {
				p.quirk(d.Pos, "mcast-ipv6-order", "Interface is written before IPv6_address",
					fmt.Sprintf("conntrackd looks up %q as an interface name (\"%s is an invalid interface\") and leaves the link without an interface index; put IPv6_address first", v.Text, v.Text))
			}
			return
		}
		p.mixedFamily(l, d, 6)
		l.family = 6
	case "IPv6_interface":
		p.warn(d.Pos, "ignored-keyword", "IPv6_interface is ignored", "conntrackd: \"`IPv6_interface' not required, ignoring\"; the Interface name selects the IPv6 interface")
	case "Interface":
		l.ifname = true
		if !p.ifaceExists(v.Text) {
			p.warn(v.Pos, "unknown-interface", fmt.Sprintf("interface %q does not exist on this host", v.Text),
				"conntrackd only warns (\""+v.Text+" is an invalid interface\") and looks it up again at start-up")
			return
		}
		if kind == "Multicast" && l.family == 6 {
			l.index6 = true
		}
	}
}

func (p *parser) mixedFamily(l *linkState, d *Directive, fam int) {
	for f, pos := range l.seenFamily {
		if f != fam {
			p.quirk(d.Pos, "mixed-link-family", fmt.Sprintf("IPv%d address after an IPv%d address (line %d) in one link", fam, f, pos.Line),
				"conntrackd uses the family of the last address keyword; use one family per link")
			break
		}
	}
	l.seenFamily[fam] = d.Pos
}

func invalidAddrDetail(v Token, fam int) string {
	switch {
	case fam == 4 && strings.Contains(v.Text, "/"):
		return "conntrackd ignores it; a prefix length is not allowed here"
	case fam == 4 && v.Kind == TokIPv6:
		return "conntrackd ignores it; this is not an IPv4 address (use the IPv6 keyword)"
	case fam == 6 && v.Kind == TokIPv4:
		return "conntrackd ignores it; this is an IPv4 address (use the IPv4 keyword)"
	}
	return "conntrackd ignores it"
}

func (p *parser) filterAddress(d *Directive, v Token) {
	addr, cidrText, hasSlash := strings.Cut(v.Text, "/")
	if strings.HasSuffix(d.Path, "IPv4_address") {
		cidr := uint32(32)
		if hasSlash {
			cidr = uint32(atoi(cidrText))
			if cidr > 32 {
				p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid network", v.Text), "the prefix length of an IPv4 network is 0 to 32; conntrackd ignores it")
				return
			}
		}
		if _, ok := inetAton(addr); !ok {
			p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid IPv4 address", addr), invalidAddrDetail(Token{Kind: v.Kind, Text: addr}, 4))
			return
		}
		if hasSlash && cidr < 32 {
			if p.st.ipv4Nets[v.Text] {
				p.warn(v.Pos, "duplicate-address", fmt.Sprintf("network %s is repeated", v.Text), "conntrackd warns and keeps one")
			}
			p.st.ipv4Nets[v.Text] = true
		}
		a, _ := inetAton(addr)
		p.recordFilterAddress(d, v, netip.PrefixFrom(a, int(cidr)), hasSlash && cidr < 32)
		return
	}
	cidr := int64(128)
	if hasSlash {
		if cidr = atoi(cidrText); cidr > 128 {
			p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid network", v.Text), "the prefix length of an IPv6 network is 0 to 128; conntrackd ignores it")
			return
		}
	}
	if !inetPton6(addr) {
		p.warn(v.Pos, "invalid-address", fmt.Sprintf("%s is not a valid IPv6 address", addr), invalidAddrDetail(Token{Kind: v.Kind, Text: addr}, 6))
		return
	}
	if prefix := netip.PrefixFrom(netip.MustParseAddr(addr), int(cidr)); prefix.IsValid() {
		p.recordFilterAddress(d, v, prefix, hasSlash && cidr < 128)
	}
}

// finish runs the checks conntrackd applies after the whole file.
func (p *parser) finish() {
	st := &p.st
	if st.commitTimeout != nil && st.disableExternal {
		p.warn(*st.commitTimeout, "ignored-option", "CommitTimeout is ignored when DisableExternalCache is on",
			"conntrackd resets it to 0 (\"`CommitTimeout' can't be combined with `DisableExternalCache'\")")
	}
	if st.schedPrio != nil && !st.schedType {
		p.quirk(*st.schedPrio, "priority-without-type", "Scheduler Priority is ignored without Type",
			fmt.Sprintf("conntrackd uses %s at priority %d unless Type is set; add Type RR or FIFO",
				strings.ToUpper(config.Defaults.SchedulerPolicy.String()), config.Defaults.SchedulerPriority))
	}
	if st.nlBufPos != nil && (!st.nlMaxSet || st.nlMax < st.nlBuf) {
		p.quirk(*st.nlBufPos, "netlink-buffer-ignored", "NetlinkBufferSize is ignored",
			"conntrackd applies it only when NetlinkBufferSizeMaxGrowth is set and at least as large")
	}
	p.kernelFilterQuirks()
}
