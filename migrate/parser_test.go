package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/google/go-cmp/cmp"
)

func corpusFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.conf", "real-world/*.conf", "real-world/rendered/*.conf"} {
		m, err := filepath.Glob(filepath.Join(corpusDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.Contains(f, "keepalived") {
				out = append(out, f)
			}
		}
	}
	if len(out) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("legacy corpus not found at %s", corpusDir)
		}
		t.Skipf("skipping: legacy corpus not found at %s (it lives in shared/ beside the repository)", corpusDir)
	}
	return out
}

// corpusOutcome is what the corpus README says conntrackd 1.4.7 does with
// each file: "" = parses, otherwise the code and line of the first error.
var corpusOutcome = map[string]struct {
	code string
	line int
}{
	"conntrackd.conf.5__STATS_EXAMPLE.conf":                                                                     {"unknown-keyword", 3},
	"historical__svn_t_conntrack-tools-0.9.6__doc__sync__ftfw__node1__conntrackd.conf":                          {"obsolete-keyword", 10},
	"historical__svn_t_conntrack-tools-0.9.6__doc__sync__ftfw__node2__conntrackd.conf":                          {"obsolete-keyword", 10},
	"historical__svn_t_conntrack-tools-0.9.6__doc__sync__alarm__node1__conntrackd.conf":                         {"removed-keyword", 45},
	"historical__svn_t_conntrack-tools-0.9.6__doc__sync__alarm__node2__conntrackd.conf":                         {"removed-keyword", 45},
	"historical__svn_t_conntrack-tools-0.9.6__doc__stats__conntrackd.conf":                                      {"removed-keyword", 76},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__nack__node1__conntrackd.conf":                     {"obsolete-keyword", 10},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__nack__node2__conntrackd.conf":                     {"obsolete-keyword", 10},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__persistent__node1__conntrackd.conf":               {"removed-keyword", 44},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__persistent__node2__conntrackd.conf":               {"removed-keyword", 44},
	"historical__svn_t_conntrack-tools-0.9.4__examples__stats__conntrackd.conf":                                 {"removed-keyword", 51},
	"seapath__ansible__roles__conntrackd__templates__conntrackd.conf.j2.conf":                                   {"template", 13},
	"freifunk-berlin__bbb-configs__roles__cfg_openwrt__templates__gateway__conntrackd__conntrackd.conf.j2.conf": {"template", 9},
	"myllynen__openshift-ha-load-balancer__conntrackd.conf.j2.conf":                                             {"template", 9},
	"openstack-archive__astara-appliance__astara_router__drivers__conntrackd.conf.template.conf":                {"template", 25},
}

// corpusWarnings are warning codes the README reports for some files.
var corpusWarnings = map[string][]string{
	"debian__etc__conntrackd__conntrackd.conf":                                                    {"deprecated"},
	"historical__conntrack-tools-1.4.0__doc__sync__ftfw__conntrackd.conf":                         {"unknown-interface", "deprecated", "deprecated"},
	"historical__conntrack-tools-1.4.0__doc__stats__conntrackd.conf":                              {"deprecated", "deprecated"},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__nack__node1__conntrackd.conf":       {"old-mode-name"},
	"historical__svn_t_conntrack-tools-0.9.4__examples__sync__persistent__node1__conntrackd.conf": {"old-mode-name"},
	"doc__sync__ftfw__conntrackd.conf":                                                            {"unknown-interface"},
	"conntrackd.conf.5__SYNC_EXAMPLE_1.conf":                                                      {"unknown-interface", "unknown-interface"},
}

func TestCorpus(t *testing.T) {
	noIface := func(string) bool { return false }
	for _, f := range corpusFiles(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, diags := Parse(name, src, Options{Dialect: Dialect147, InterfaceExists: noIface})
			want, bad := corpusOutcome[name]
			errs := diags.Errors()
			switch {
			case !bad && len(errs) > 0:
				t.Fatalf("want no error, got %v", errs)
			case bad && (len(errs) != 1 || errs[0].Code != want.code || errs[0].Pos.Line != want.line):
				t.Fatalf("want one %s error at line %d, got %v", want.code, want.line, diags)
			}
			var codes []string
			for _, d := range diags {
				if d.Severity == config.Warning && d.Code != "legacy-quirk" {
					codes = append(codes, d.Code)
				}
			}
			if w, ok := corpusWarnings[name]; ok {
				if diff := cmp.Diff(w, codes); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
			}
			for _, d := range diags {
				if d.Pos.Line <= 0 || d.Pos.Column <= 0 || d.Pos.File != name {
					t.Errorf("diagnostic without a position: %v", d)
				}
			}
		})
	}
}

func TestGrammar(t *testing.T) {
	if len(Grammar) != 119 {
		t.Errorf("Grammar has %d keyword-in-context pairs; conntrackd 1.4.0 to 1.4.7's grammars have 119 together", len(Grammar))
	}
	count := map[Status]int{}
	seen := map[string]bool{}
	for _, k := range Grammar {
		if seen[k.Path] {
			t.Errorf("duplicate path %q", k.Path)
		}
		seen[k.Path] = true
		count[k.Status]++
		if k.Status == StatusCurrent || k.Status == StatusAlias || k.Status == StatusDeprecated {
			if !keywordSet147[k.Name] {
				t.Errorf("%s is accepted by 1.4.7 but is not a 1.4.7 scanner keyword", k.Path)
			}
		} else if keywordSet147[k.Name] && k.Name != "Checksum" && k.Name != "Backlog" && k.Name != "IPv4_address" && k.Name != "IPv6_address" {
			t.Errorf("%s is removed but %s is a 1.4.7 keyword", k.Path, k.Name)
		}
	}
	// Reference A.6: 93 current (incl. 3 alias spellings), 2 deprecated, 24 removed pairs.
	if got := count[StatusCurrent] + count[StatusAlias]; got != 93 {
		t.Errorf("current+alias = %d, want 93", got)
	}
	if count[StatusDeprecated] != 2 || count[StatusRemoved]+count[StatusObsolete] != 24 {
		t.Errorf("deprecated = %d (want 2), removed+obsolete = %d (want 24)", count[StatusDeprecated], count[StatusRemoved]+count[StatusObsolete])
	}
	if len(Keywords147) != 82 {
		t.Errorf("Keywords147 has %d words, want 82", len(Keywords147))
	}
}

func TestParseDiagnostics(t *testing.T) {
	type diag struct {
		Code string
		Line int
		Col  int
		Sub  string // substring of message+detail
	}
	lenient := Options{Dialect: DialectLenient, InterfaceExists: func(string) bool { return true }}
	tests := []struct {
		name string
		src  string
		opts *Options
		want []diag // errors and non-quirk warnings, in order
	}{
		{"missing number", "General {\n  HashLimit foo\n}\n", nil, []diag{{"syntax", 2, 13, `expected a number after HashLimit, found word "foo"`}}},
		{"wrong case did you mean", "General { hashsize 5 }\n", nil, []diag{{"unknown-keyword", 1, 11, `unknown keyword "hashsize" in General; did you mean "HashSize"?`}}},
		{"typo did you mean", "General { HashSise 5 }\n", nil, []diag{{"unknown-keyword", 1, 11, `did you mean "HashSize"?`}}},
		{"misplaced keyword", "Sync { ResendQueueSize 5 }\n", nil, []diag{{"unknown-keyword", 1, 8, "valid in Sync.Mode FTFW"}}},
		{"removed keyword 1.4.7", "StripNAT\n", nil, []diag{{"removed-keyword", 1, 1, "removed in conntrackd 1.4.5"}}},
		{"removed keyword lenient", "StripNAT\nSync { Replicate ESTABLISHED for TCP Checksum on }\nIgnoreProtocol { UDP 17 icmp }\n", &lenient,
			[]diag{{"removed-keyword", 1, 1, "StripNAT"}, {"removed-keyword", 2, 8, "Replicate"}, {"removed-keyword", 2, 38, "Checksum"}, {"removed-keyword", 3, 1, "Protocol Ignore"}}},
		{"obsolete keyword lenient", "Sync { Mode FTFW { ResendBufferSize 5 } }\n", &lenient, []diag{{"obsolete-keyword", 1, 20, "use ResendQueueSize"}}},
		{"template", "Sync {\n UDP { Port {{ port }} }\n}\n", nil, []diag{{"template", 2, 13, "unrendered template text"}}},
		{"eof comment", "General { }\n# end", nil, []diag{{"syntax", 2, 1, "no line break"}}},
		{"eof comment lenient", "General { }\n# end", &lenient, nil},
		{"persistent lower case", "Sync { Mode persistent { } }\n", nil, []diag{{"syntax", 1, 13, "upper-case final T"}}},
		{"old mode name", "Sync { Mode NACK { } }\n", nil, []diag{{"old-mode-name", 1, 13, "FTFW"}}},
		{"hex word", "Sync { Options { ExpectationSync { cafe } } }\n", nil, []diag{{"syntax", 1, 36, "hex-word-ipv6"}}},
		{"sync and stats", "Sync { }\nStats {\n}\n", nil, []diag{{"sync-and-stats", 3, 1, "cannot be used together"}}},
		{"mixed transports", "Sync { UDP { } Multicast { } }\n", nil, []diag{{"link-transport", 1, 16, "cannot mix Multicast links with UDP links"}}},
		{"fifth link", "Sync { UDP { } UDP { } UDP { } UDP { } UDP { Port 1 } }\n", nil, []diag{{"too-many-links", 1, 46, "link #5"}}},
		{"priority range", "General { Scheduler { Priority 100 } }\n", nil, []diag{{"scheduler", 1, 32, "out of range"}}},
		{"unknown scheduler", "General { Scheduler { Type idle } }\n", nil, []diag{{"scheduler", 1, 28, `unknown scheduler "idle"`}}},
		{"pollsecs zero", "General { PollSecs 0 }\n", nil, []diag{{"poll-secs", 1, 20, "greater than 0"}}},
		{"unix path", "General { UNIX { Path /" + strings.Repeat("a", 107) + " } }\n", nil, []diag{{"path-too-long", 1, 23, "more than 107"}}},
		{"deprecated", "General { Nice -1 UNIX { Backlog 20 } }\n", nil, []diag{{"deprecated", 1, 11, "Nice"}, {"deprecated", 1, 26, "Backlog"}}},
		{"nice unsigned", "General { Nice 5 }\n", nil, []diag{{"syntax", 1, 16, "explicit sign"}}},
		{"bad addresses", "Sync { UDP { IPv4_address 1.2.3.4/24 IPv6_address 1.2.3.4 } }\nGeneral { Filter { Address Ignore { IPv4_address 1.2.3.0/33 IPv4_address 300.1.1.1 } } }\n", nil,
			[]diag{{"invalid-address", 1, 27, "prefix length"}, {"invalid-address", 1, 51, "not a valid IPv6"}, {"invalid-address", 2, 50, "not a valid network"}, {"invalid-address", 2, 74, "300.1.1.1"}}},
		{"facilities", "General { Syslog local9 }\nGeneral { Syslog local1 }\nStats { Syslog local2 }\n", nil,
			[]diag{{"unknown-facility", 1, 18, "local9"}, {"conflicting-facility", 3, 16, "General"}}},
		{"unknown protocol", "General { Filter { Protocol Accept { TCP Sctp sctp } } }\n", nil, []diag{{"unknown-protocol", 1, 42, `did you mean "sctp"?`}}},
		{"misspelt protocol", "General { Filter { Protocol Accept { sctpp } } }\n", nil, []diag{{"unknown-protocol", 1, 38, `did you mean "sctp"?`}}},
		{"protocol alias in the wrong case", "General { Filter { Protocol Accept { ipsec-esp } } }\n", nil, []diag{{"unknown-protocol", 1, 38, `did you mean "esp"?`}}},
		{"keyword prefix", "General { Filter { Protocol Accept { TCP } } } Sync { Multi { } }\n", nil, []diag{{"unknown-keyword", 1, 55, `did you mean "Multicast"?`}}},
		{"interface", "Sync { UDP { Interface eth9 } }\n", &Options{InterfaceExists: func(n string) bool { return n != "eth9" }}, []diag{{"unknown-interface", 1, 24, `"eth9"`}}},
		{"ipv6 interface ignored", "Sync { Multicast { IPv6_interface ::1 } }\n", nil, []diag{{"ignored-keyword", 1, 20, "ignored"}}},
		{"helper unknown", "Helper { Type sip inet udp { } }\n", nil, []diag{{"helper", 1, 15, `unknown helper "sip"`}}},
		{"helper l4", "Helper { Type ftp inet udp { } }\n", nil, []diag{{"helper", 1, 15, "registers only tcp"}}},
		{"helper l3", "Helper { Type ftp ipv4 tcp { } }\n", nil, []diag{{"helper", 1, 19, "layer 3"}}},
		{"helper TCP keyword", "Helper { Type ftp inet TCP { } }\n", nil, []diag{{"syntax", 1, 24, "lower case"}}},
		{"policy unknown", "Helper { Type ftp inet tcp { Policy rpc { ExpectMax 1 } } }\n", nil, []diag{{"helper-policy", 1, 37, `no policy "rpc"`}}},
		{"policy empty", "Helper { Type ftp inet tcp { Policy ftp { } } }\n", nil, []diag{{"helper-policy", 1, 43, "no settings"}}},
		{"state needs for TCP", "General { Filter { State Accept { ESTABLISHED } } }\n", nil, []diag{{"syntax", 1, 47, "for TCP"}}},
		{"unclosed block", "General {\n HashSize 5\n", nil, []diag{{"syntax", 3, 1, "opened at line 1"}}},
		{"commit timeout ignored", "Sync { Mode FTFW { CommitTimeout 5 DisableExternalCache on } }\n", nil, []diag{{"ignored-option", 1, 20, "CommitTimeout"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{InterfaceExists: func(string) bool { return true }}
			if tt.opts != nil {
				opts = *tt.opts
			}
			_, diags := Parse("t.conf", []byte(tt.src), opts)
			var got []diag
			for _, d := range diags {
				if d.Code == "legacy-quirk" {
					continue
				}
				g := diag{d.Code, d.Pos.Line, d.Pos.Column, ""}
				got = append(got, g)
			}
			var want []diag
			for i, w := range tt.want {
				want = append(want, diag{w.Code, w.Line, w.Col, ""})
				if i < len(diags) {
					if text := diags[i].Message + "; " + diags[i].Detail; len(got) == len(tt.want) && !strings.Contains(nonQuirk(diags)[i], w.Sub) {
						t.Errorf("diagnostic %d = %q, want it to contain %q", i, text, w.Sub)
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nall: %v", diff, diags)
			}
		})
	}
}

func nonQuirk(ds config.Diagnostics) []string {
	var out []string
	for _, d := range ds {
		if d.Code != "legacy-quirk" {
			out = append(out, d.Message+"; "+d.Detail)
		}
	}
	return out
}

func TestQuirkWarnings(t *testing.T) {
	tests := []struct{ name, src, quirk string }{
		{"path tab", "General { LogFile /x.log\t\n}\n", "path-swallows"},
		{"bool pipe", "General { Systemd |n }\n", "bool-pipe"},
		{"persistenT", "Sync { Mode persistenT { } }\n", "persistent-case"},
		{"priority without type", "General { Scheduler { Priority 5 } }\n", "priority-without-type"},
		{"netlink buffer", "General { NetlinkBufferSize 100 }\n", "netlink-buffer-ignored"},
		{"mcast ipv6 order", "Sync { Multicast { Interface lo IPv6_address ff02::1 } }\n", "mcast-ipv6-order"},
		{"duplicate scalar", "Sync { UDP { IPv4_Destination_Address 1.1.1.1 IPv4_Destination_Address 2.2.2.2 } }\n", "duplicate-scalar"},
		{"policy merge", "General { Filter { Address Accept { } Address Ignore { } } }\n", "filter-policy-merge"},
		{"empty links", "Sync { UDP { } UDP { } UDP { } UDP { } UDP { } }\n", "empty-links-overflow"},
		{"helper outside type", "Helper { QueueNum 5 }\n", "helper-outside-type"},
		{"nested type", "Helper { Type ftp inet tcp { Type rpc inet tcp { } } }\n", "nested-helper-type"},
		{"octal", "Sync { UDP { IPv4_address 010.0.0.1 } }\n", "octal-ipv4"},
		{"overflow", "General { HashSize 4294967296 }\n", "number-overflow"},
	}
	known := map[string]bool{}
	for _, q := range Quirks {
		known[q.ID] = true
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !known[tt.quirk] {
				t.Fatalf("quirk %s is not in Quirks", tt.quirk)
			}
			_, diags := Parse("t.conf", []byte(tt.src), Options{InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatalf("unexpected error: %v", diags)
			}
			for _, d := range diags {
				if d.Code == "legacy-quirk" && strings.Contains(d.Detail, "quirk "+tt.quirk) {
					return
				}
			}
			t.Errorf("no %s quirk warning in %v", tt.quirk, diags)
		})
	}
}

func TestAST(t *testing.T) {
	src := "# lead\nGeneral {\n\tHashSize 5 # five\n\tFilter From Kernelspace {\n\t\tProtocol Accept { TCP sctp }\n\t\tState Ignore { CLOSED for TCP }\n\t}\n}\nSync { Mode NACK { ResendQueueSize 1 } }\n"
	f, diags := Parse("t.conf", []byte(src), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	type node struct {
		Path string
		Args string
		Line int
		Lead int
		LC   string
	}
	var got []node
	f.Walk(func(d *Directive) bool {
		var args []string
		for _, a := range d.Args {
			args = append(args, a.Text)
		}
		n := node{d.Path, strings.Join(args, " "), d.Pos.Line, len(d.LeadComments), ""}
		if d.LineComment != nil {
			n.LC = d.LineComment.Text
		}
		got = append(got, n)
		return true
	})
	want := []node{
		{"General", "", 2, 1, ""},
		{"General.HashSize", "5", 3, 0, "# five"},
		{"General.Filter", "From Kernelspace", 4, 0, ""},
		{"General.Filter.Protocol", "Accept", 5, 0, ""},
		{"General.Filter.Protocol[]", "TCP", 5, 0, ""},
		{"General.Filter.Protocol[]", "sctp", 5, 0, ""},
		{"General.Filter.State", "Ignore", 6, 0, ""},
		{"General.Filter.State[]", "CLOSED", 6, 0, ""},
		{"General.Filter.State[]", "for TCP", 6, 0, ""},
		{"Sync", "", 9, 0, ""},
		{"Sync.Mode", "NACK", 9, 0, ""},
		{"Sync.Mode FTFW.ResendQueueSize", "1", 9, 0, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AST (-want +got):\n%s", diff)
	}
}
