package migrate

import "strings"

// Shape is the syntax of what follows a keyword.
type Shape int

const (
	ShapeBlock        Shape = iota // { directives }
	ShapeNumber                    // N (unsigned)
	ShapeSigned                    // -N or +N
	ShapeBool                      // on off yes no
	ShapeBoolOrPath                // BOOL or /absolute/path
	ShapeBoolOrWord                // BOOL or WORD (syslog facility)
	ShapeBoolOrNumber              // BOOL or N
	ShapePath                      // /absolute/path
	ShapeWord                      // WORD
	ShapeIP                        // IPv4 or IPv6 token (conntrackd's T_IP: the keyword picks the family)
	ShapeNone                      // the keyword alone
	ShapeMode                      // FTFW|NOTRACK|ALARM { directives }
	ShapeLink                      // [Default] { directives }
	ShapeFilter                    // [From Userspace|Kernelspace] { directives }
	ShapeProtocolSet               // Accept|Ignore { TCP UDP WORD... }
	ShapeAddressSet                // Accept|Ignore { IPv4_address/IPv6_address directives }
	ShapeStateSet                  // Accept|Ignore { STATE... for TCP ... }
	ShapeBoolOrList                // BOOL or { WORD... }
	ShapeHelperType                // WORD(name) WORD(l3) WORD(l4) { directives }
	ShapePolicy                    // WORD { directives }
	ShapeProtoList                 // { N|WORD... } (old IgnoreProtocol)
	ShapeReplicate                 // STATE... for WORD (old Replicate)
)

var shapeNames = [...]string{"{ ... }", "N", "±N", "BOOL", "BOOL | PATH", "BOOL | WORD", "BOOL | N",
	"PATH", "WORD", "IP", "", "FTFW|NOTRACK|ALARM { ... }", "[Default] { ... }",
	"[From Userspace|Kernelspace] { ... }", "Accept|Ignore { PROTOCOL... }",
	"Accept|Ignore { IPv4_address|IPv6_address... }", "Accept|Ignore { STATE... for TCP }",
	"BOOL | { WORD... }", "WORD inet|inet6 tcp|udp { ... }", "WORD { ... }", "{ N|WORD... }",
	"STATE... for WORD"}

// String is the value syntax as written in docs.
func (s Shape) String() string { return shapeNames[s] }

// Status says whether a keyword is still accepted.
type Status string

const (
	StatusCurrent    Status = "current"       // accepted by 1.4.7
	StatusAlias      Status = "alias"         // accepted by 1.4.7, another spelling
	StatusDeprecated Status = "deprecated"    // accepted by 1.4.7 with a warning and ignored
	StatusRemoved    Status = "removed-1.4.5" // accepted by 1.4.0-1.4.4, syntax error since 1.4.5
	StatusObsolete   Status = "obsolete"      // pre-1.0 name with a different modern replacement: migrate refuses it
)

// Keyword is one keyword in its context.
type Keyword struct {
	// Path is the canonical context path: the enclosing keywords joined by
	// ".", mode blocks as "Mode FTFW": "General.UNIX.Path",
	// "Sync.Mode FTFW.ResendQueueSize", "Sync.Multicast.Group".
	Path   string
	Name   string // the keyword as conntrackd spells it
	Shape  Shape
	Status Status
	// Since is the first release that accepted it, when later than 1.4.0.
	Since string
	// Replacement names what to write instead (aliases, deprecated,
	// removed and obsolete keywords); an example in it ("a filter such as
	// General { ... }") is valid conntrackd.conf (TestReplacementExamples).
	Replacement string
	Note        string
}

// Parent is the context path the keyword appears in ("" at top level).
func (k Keyword) Parent() string {
	if i := strings.LastIndexByte(k.Path, '.'); i >= 0 {
		return k.Path[:i]
	}
	return ""
}

func kw(path string, shape Shape, status Status, since, repl, note string) Keyword {
	name := path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		name = path[i+1:]
	}
	return Keyword{Path: path, Name: name, Shape: shape, Status: status, Since: since, Replacement: repl, Note: note}
}

func cur(path string, shape Shape) Keyword { return kw(path, shape, StatusCurrent, "", "", "") }

func removed(path string, shape Shape, repl, note string) Keyword {
	return kw(path, shape, StatusRemoved, "", repl, note)
}

// Grammar lists every keyword-in-context of conntrackd.conf that any 1.4.x
// release accepted (119 pairs, from src/read_config_yy.y and
// src/read_config_lex.l of 1.4.0 to 1.4.7), section by section: top level,
// General, Sync, its links and Options, Stats, Helper, then the blocks
// 1.4.5 removed.
var Grammar = buildGrammar()

func buildGrammar() []Keyword {
	g := []Keyword{
		cur("General", ShapeBlock),
		cur("Sync", ShapeBlock),
		cur("Stats", ShapeBlock),
		kw("Helper", ShapeBlock, StatusCurrent, "1.4.0", "", ""),
		removed("IgnoreProtocol", ShapeProtoList, "a filter such as General { Filter { Protocol Ignore { UDP } } }", "old protocol ignore list"),
		removed("IgnoreTrafficFor", ShapeBlock, "a filter such as General { Filter { Address Ignore { IPv4_address 192.0.2.1 } } }", "old address ignore list"),
		removed("StripNAT", ShapeNone, "", "ignored since before 1.0; delete it"),

		cur("General.HashSize", ShapeNumber),
		cur("General.HashLimit", ShapeNumber),
		cur("General.LogFile", ShapeBoolOrPath),
		cur("General.Syslog", ShapeBoolOrWord),
		cur("General.LockFile", ShapePath),
		cur("General.UNIX", ShapeBlock),
		cur("General.UNIX.Path", ShapePath),
		kw("General.UNIX.Backlog", ShapeNumber, StatusDeprecated, "", "", "ignored since 1.4.5 (listen backlog fixed at 100)"),
		cur("General.NetlinkBufferSize", ShapeNumber),
		kw("General.SocketBufferSize", ShapeNumber, StatusAlias, "", "NetlinkBufferSize", ""),
		cur("General.NetlinkBufferSizeMaxGrowth", ShapeNumber),
		kw("General.SocketBufferSizeMaxGrown", ShapeNumber, StatusAlias, "", "NetlinkBufferSizeMaxGrowth", ""),
		kw("General.SocketBufferSizeMaxGrowth", ShapeNumber, StatusAlias, "", "NetlinkBufferSizeMaxGrowth", ""),
		cur("General.NetlinkOverrunResync", ShapeBoolOrNumber),
		cur("General.NetlinkEventsReliable", ShapeBool),
		cur("General.PollSecs", ShapeNumber),
		cur("General.EventIterationLimit", ShapeNumber),
		kw("General.Nice", ShapeSigned, StatusDeprecated, "", "", "ignored since 1.4.5; use nice(1) or the service manager"),
		cur("General.Scheduler", ShapeBlock),
		cur("General.Scheduler.Type", ShapeWord),
		cur("General.Scheduler.Priority", ShapeNumber),
		cur("General.Filter", ShapeFilter),
		cur("General.Filter.Protocol", ShapeProtocolSet),
		cur("General.Filter.Address", ShapeAddressSet),
		cur("General.Filter.Address.IPv4_address", ShapeIP),
		cur("General.Filter.Address.IPv6_address", ShapeIP),
		cur("General.Filter.State", ShapeStateSet),
		kw("General.Systemd", ShapeBool, StatusCurrent, "1.4.4", "", ""),
		removed("General.Family", ShapeWord, "", "ignored since 1.4.2: both families are always handled; delete it"),

		cur("Sync.Mode", ShapeMode),
		cur("Sync.RefreshTime", ShapeNumber),
		cur("Sync.CacheTimeout", ShapeNumber),
		cur("Sync.CommitTimeout", ShapeNumber),
		cur("Sync.PurgeTimeout", ShapeNumber),
		cur("Sync.Multicast", ShapeLink),
		cur("Sync.UDP", ShapeLink),
		cur("Sync.TCP", ShapeLink),
		kw("Sync.Options", ShapeBlock, StatusCurrent, "1.2.0", "", ""),
		removed("Sync.Checksum", ShapeBool, "Checksum inside the Multicast/UDP/TCP block", "applied to the first link only"),
		removed("Sync.RelaxTransitions", ShapeNone, "", "ignored; delete it"),
		removed("Sync.DelayDestroyMessages", ShapeNone, "", "ignored; delete it"),
		removed("Sync.ListenTo", ShapeIP, "", "ignored: each link binds its own address; delete it"),
		removed("Sync.Replicate", ShapeReplicate, "a filter such as General { Filter { State Accept { ESTABLISHED for TCP } } }", "old state filter"),
		removed("Sync.CacheWriteThrough", ShapeBool, "", "ignored; delete it"),
		removed("Sync.DestroyTimeout", ShapeNumber, "", "ignored; delete it"),
	}
	mode := func(m string, status Status, names ...string) {
		shapes := map[string]Shape{"DisableExternalCache": ShapeBool, "DisableInternalCache": ShapeBool,
			"StartupResync": ShapeBool, "RelaxTransitions": ShapeNone, "DelayDestroyMessages": ShapeNone}
		for _, n := range names {
			sh, ok := shapes[n]
			if !ok {
				sh = ShapeNumber
			}
			k := kw("Sync.Mode "+m+"."+n, sh, status, "", "", "")
			switch n {
			case "StartupResync":
				k.Since = "1.4.5"
			case "ResendBufferSize":
				k.Status, k.Replacement = StatusObsolete, "ResendQueueSize"
				k.Note = "counted bytes; ResendQueueSize counts objects, so the value cannot be carried over"
			case "RelaxTransitions", "DelayDestroyMessages":
				k.Status, k.Note = StatusRemoved, "ignored; delete it"
			}
			g = append(g, k)
		}
	}
	mode("FTFW", StatusCurrent, "ResendQueueSize", "ACKWindowSize", "CommitTimeout", "PurgeTimeout",
		"DisableExternalCache", "StartupResync", "ResendBufferSize")
	mode("NOTRACK", StatusCurrent, "CommitTimeout", "PurgeTimeout", "DisableInternalCache",
		"DisableExternalCache", "StartupResync")
	mode("ALARM", StatusCurrent, "RefreshTime", "CacheTimeout", "CommitTimeout", "PurgeTimeout",
		"RelaxTransitions", "DelayDestroyMessages")

	link := func(kind string) {
		p := "Sync." + kind + "."
		if kind == "Multicast" {
			g = append(g, cur(p+"IPv4_address", ShapeIP), cur(p+"IPv6_address", ShapeIP),
				cur(p+"IPv4_interface", ShapeIP),
				kw(p+"IPv6_interface", ShapeIP, StatusCurrent, "", "", "accepted and ignored"),
				cur(p+"Interface", ShapeWord), cur(p+"Group", ShapeNumber))
		} else {
			g = append(g, cur(p+"IPv4_address", ShapeIP), cur(p+"IPv6_address", ShapeIP),
				cur(p+"IPv4_Destination_Address", ShapeIP), cur(p+"IPv6_Destination_Address", ShapeIP),
				cur(p+"Interface", ShapeWord), cur(p+"Port", ShapeNumber))
		}
		g = append(g, cur(p+"SndSocketBuffer", ShapeNumber), cur(p+"RcvSocketBuffer", ShapeNumber),
			cur(p+"Checksum", ShapeBool))
		if kind == "TCP" {
			g = append(g, cur(p+"ErrorQueueLength", ShapeNumber))
		}
		g = append(g, removed(p+"McastSndSocketBuffer", ShapeNumber, "SndSocketBuffer", "old alias"),
			removed(p+"McastRcvSocketBuffer", ShapeNumber, "RcvSocketBuffer", "old alias"))
		if kind == "Multicast" {
			g = append(g, removed(p+"Backlog", ShapeNumber, "", "ignored; delete it"))
		}
	}
	link("Multicast")
	link("UDP")
	link("TCP")

	g = append(g,
		kw("Sync.Options.TCPWindowTracking", ShapeBool, StatusCurrent, "1.2.0", "", ""),
		kw("Sync.Options.ExpectationSync", ShapeBoolOrList, StatusCurrent, "1.2.0", "", ""),
		cur("Stats.LogFile", ShapeBoolOrPath),
		cur("Stats.Syslog", ShapeBoolOrWord),
		removed("Stats.LogFileBufferSize", ShapeNumber, "", "ignored; delete it"),
		kw("Helper.Setup", ShapeBool, StatusCurrent, "1.4.7", "", ""),
		kw("Helper.Type", ShapeHelperType, StatusCurrent, "1.4.0", "", ""),
		kw("Helper.Type.QueueNum", ShapeNumber, StatusCurrent, "1.4.0", "", ""),
		kw("Helper.Type.QueueLen", ShapeNumber, StatusCurrent, "1.4.0", "", ""),
		kw("Helper.Type.Policy", ShapePolicy, StatusCurrent, "1.4.0", "", ""),
		kw("Helper.Type.Policy.ExpectMax", ShapeNumber, StatusCurrent, "1.4.0", "", ""),
		kw("Helper.Type.Policy.ExpectTimeout", ShapeNumber, StatusCurrent, "1.4.0", "", ""),
		removed("IgnoreTrafficFor.IPv4_address", ShapeIP, "a filter such as General { Filter { Address Ignore { IPv4_address 192.0.2.1 } } }", ""),
		removed("IgnoreTrafficFor.IPv6_address", ShapeIP, "a filter such as General { Filter { Address Ignore { IPv6_address 2001:db8::1 } } }", ""),
	)
	return g
}

// grammarIndex maps a context path to its keywords by name.
var grammarIndex = func() map[string]map[string]*Keyword {
	idx := map[string]map[string]*Keyword{}
	for i := range Grammar {
		k := &Grammar[i]
		p := k.Parent()
		if idx[p] == nil {
			idx[p] = map[string]*Keyword{}
		}
		idx[p][k.Name] = k
	}
	return idx
}()

// KeywordAt returns the grammar entry for a path such as "General.HashSize".
func KeywordAt(path string) (Keyword, bool) {
	for _, k := range Grammar {
		if k.Path == path {
			return k, true
		}
	}
	return Keyword{}, false
}

// Keywords147 are the 82 literal words of the 1.4.7 scanner, which lexes
// them as keywords (case-sensitive) and every other word as a WORD.
var Keywords147 = strings.Fields(`UNIX IPv4_address IPv6_address IPv4_Destination_Address
IPv6_Destination_Address IPv4_interface IPv6_interface Interface Multicast UDP TCP HashSize
RefreshTime CacheTimeout CommitTimeout HashLimit Path Backlog Group Port LogFile Syslog LockFile
General Sync Stats SocketBufferSize SocketBufferSizeMaxGrown SocketBufferSizeMaxGrowth
NetlinkBufferSize NetlinkBufferSizeMaxGrowth Mode ResendQueueSize Checksum ACKWindowSize for
SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE CLOSED LISTEN
SndSocketBuffer RcvSocketBuffer Filter Protocol Address State Accept Ignore PurgeTimeout From
Userspace Kernelspace EventIterationLimit Default PollSecs NetlinkOverrunResync Nice Scheduler
Type Priority NetlinkEventsReliable DisableInternalCache DisableExternalCache Options
TCPWindowTracking ExpectationSync ErrorQueueLength Helper QueueNum QueueLen Policy ExpectMax
ExpectTimeout Systemd StartupResync Setup`)

var keywordSet147 = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range Keywords147 {
		m[k] = true
	}
	return m
}()

// tcpStates are the state words of State filters (CLOSE and CLOSED are one state).
var tcpStates = map[string]bool{"SYN_SENT": true, "SYN_RECV": true, "ESTABLISHED": true, "FIN_WAIT": true,
	"CLOSE_WAIT": true, "LAST_ACK": true, "TIME_WAIT": true, "CLOSE": true, "CLOSED": true, "LISTEN": true}

// HelperPlugin is a user-space helper shipped with conntrackd 1.4.7
// (/usr/lib/x86_64-linux-gnu/conntrack-tools/ct_helper_<name>.so): the
// layer-4 protocols it registers and the policy names it defines, as
// observed with `conntrackd -C f -s`.
type HelperPlugin struct {
	Name     string
	L4       []string
	Policies []string
}

// Helpers are the plug-ins of the Debian conntrackd 1.4.7 package.
var Helpers = []HelperPlugin{
	{"amanda", []string{"udp"}, []string{"amanda"}},
	{"dhcpv6", []string{"udp"}, []string{"dhcpv6"}},
	{"ftp", []string{"tcp"}, []string{"ftp"}},
	{"mdns", []string{"udp"}, []string{"mdns"}},
	{"rpc", []string{"tcp", "udp"}, []string{"rpc"}},
	{"sane", []string{"tcp"}, []string{"sane"}},
	{"slp", []string{"udp"}, []string{"slp"}},
	{"ssdp", []string{"udp", "tcp"}, []string{"ssdp"}},
	{"tftp", []string{"udp"}, []string{"tftp"}},
	{"tns", []string{"tcp"}, []string{"tns"}},
}

// Quirk is a defect of conntrackd 1.4.7's configuration handling that the
// 1.4.7 dialect reproduces; ID is the stable name used in warnings.
type Quirk struct {
	ID      string
	Summary string
}

// Quirks lists the defects the parser reproduces and reports with code
// "legacy-quirk" (or explains in an error's detail when conntrackd rejects
// the input).
var Quirks = []Quirk{
	{"path-swallows", "a path value runs until a space, newline or double quote: a tab, \"#\", \"}\" or carriage return after it becomes part of the path"},
	{"bool-pipe", "the boolean patterns contain a stray \"|\", so \"|n\", \"o|\" and \"||\" are booleans"},
	{"hex-word-ipv6", "a word of at most 4 hex digits that is not all decimal (\"cafe\", \"add\") lexes as an IPv6 address, so it is rejected where a word is expected"},
	{"persistent-case", "the old mode name PERSISTENT is recognised only when its last letter is an upper-case T"},
	{"eof-comment", "a # comment on the last line without a newline is a syntax error"},
	{"priority-without-type", "Scheduler Priority is ignored unless Type is also set"},
	{"type-without-priority", "Scheduler Type without Priority asks for priority 0, which the kernel refuses for real-time policies"},
	{"netlink-buffer-ignored", "NetlinkBufferSize is ignored unless NetlinkBufferSizeMaxGrowth is set and at least as large"},
	{"mcast-ipv6-order", "in a Multicast link, Interface before IPv6_address looks up the address as an interface name and leaves the link unbound"},
	{"duplicate-scalar", "an option given twice keeps the last value silently (e.g. two IPv4_Destination_Address in one link)"},
	{"filter-policy-merge", "Accept and Ignore blocks of one filter kind merge into one set whose policy is the last one written"},
	{"filter-from-last", "the From Userspace/Kernelspace choice is global: the last Filter header wins"},
	{"mixed-link-family", "IPv4 and IPv6 address keywords in one link: the last one decides the family"},
	{"empty-links-overflow", "more than four link blocks without options are not counted and overflow the link table"},
	{"helper-outside-type", "QueueNum, QueueLen and Policy directly in Helper apply to the next Type block"},
	{"nested-helper-type", "a Type block inside a Type block is accepted; the inner one takes the options read so far"},
	{"octal-ipv4", "IPv4 groups with a leading zero are read as octal (010.0.0.1 is 8.0.0.1)"},
	{"number-overflow", "numbers are converted with atoi: values above 2147483647 wrap"},
}

// FilterDefect is a defect in what conntrackd 1.4.7 (with
// libnetfilter_conntrack 1.0.9) does with a valid filter configuration,
// which ctsync does not reproduce: after migration the two daemons
// replicate different flows. The parser reports each with code
// "legacy-quirk", like a Quirk, at the entry concerned.
type FilterDefect struct {
	ID         string
	Conntrackd string // what conntrackd does
	Ctsync     string // what ctsync does instead
}

// FilterDefects lists them; docs/filter.md explains them.
var FilterDefects = []FilterDefect{
	{"ipv6-netmask-duplicate", "the duplicate check of IPv6 filter networks looks in the IPv4 list: a repeated IPv6 network is not reported, and one that matches the IPv4 list's memory (::/0 right after 0.0.0.0/0) is reported as repeated and dropped from the user-space filter",
		"keeps every IPv6 network"},
	{"kernel-ipv6-skip", "Filter From Kernelspace: in an IPv6 address list, an address that differs from an entry in its first 96 (masked) bits is not compared with the entries after it",
		"tests every entry"},
	{"kernel-ipv6-as-ipv4", "Filter From Kernelspace: IPv6 events are compared with the IPv4 entries as 5.0.1.0, so an Address Accept list with IPv4 and IPv6 entries drops every IPv6 flow, and an Address Ignore list holding 5.0.1.0 does too",
		"compares IPv6 flows with IPv6 entries only"},
	{"kernel-accept-family", "Filter From Kernelspace: an Address Accept list without IPv4 entries passes every IPv4 event (and one without IPv6 entries but holding 5.0.1.0 every IPv6 event)",
		"drops the flows of a family the Accept list has no entry for, as the user-space filters of both do"},
	{"kernel-ipv4-jumps", "Filter From Kernelspace: from 86 IPv4 entries in an address list, the 8-bit jumps of the kernel program wrap and listed addresses are misjudged",
		"uses long jumps"},
}
