package kbpf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/ctsync/ctsync/filter"
)

// The golden programs in testdata/*.strace are what conntrackd 1.4.7 with
// libnetfilter_conntrack 1.0.9 (Debian 12) attached for the filter block in
// the matching .conf, captured by testdata/capture.sh.

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			s = fmt.Sprintf("%s/%d", s, a.BitLen())
		}
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func protoStage(p filter.Policy, ps ...uint8) filter.Stage {
	return filter.Stage{Kind: filter.KindProtocol, Policy: p, Protocols: ps}
}

func addrStage(p filter.Policy, ss ...string) filter.Stage {
	return filter.Stage{Kind: filter.KindAddress, Policy: p, Prefixes: prefixes(ss...)}
}

func stateStage(p filter.Policy, ss ...filter.TCPState) filter.Stage {
	return filter.Stage{Kind: filter.KindTCPState, Policy: p, TCPStates: ss}
}

const (
	synSent     filter.TCPState = 1
	synRecv     filter.TCPState = 2
	established filter.TCPState = 3
	timeWait    filter.TCPState = 7
	closeState  filter.TCPState = 8
	listen      filter.TCPState = 9
)

func seq(format string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

// goldenSettings are the testdata/*.conf filter blocks as filter.Settings.
var goldenSettings = map[string]filter.Settings{
	"mixed": {Stages: []filter.Stage{
		// Written out of conntrackd's order on purpose: the compiler sorts.
		stateStage(filter.Accept, established, closeState),
		protoStage(filter.Accept, 17, 6),
		addrStage(filter.Ignore, "198.18.0.1", "198.19.0.0/16", "2001:db8::1", "2001:db8:1::/48"),
	}},
	"inverse": {Stages: []filter.Stage{
		protoStage(filter.Ignore, 1, 47),
		addrStage(filter.Accept, "198.18.0.0/15", "2001:db8::/32"),
		stateStage(filter.Ignore, synSent, timeWait),
	}},
	"state": {Stages: []filter.Stage{stateStage(filter.Accept, listen, synRecv)}},
	"everything": {Stages: []filter.Stage{
		// conntrackd keeps IPv4 before IPv6 whatever the written order.
		addrStage(filter.Ignore, "::/0", "0.0.0.0/0"),
	}},
	"ipv6-max": {Stages: []filter.Stage{addrStage(filter.Accept, seq("2001:db8:%x::/48", 1, 20)...)}},
	"ipv4-81":  {Stages: []filter.Stage{addrStage(filter.Ignore, seq("198.18.%d.0/24", 1, 81)...)}},
}

var bpfCall = regexp.MustCompile(`BPF_(STMT|JUMP)\(([^)]*)\)`)

// readStrace parses the program strace printed for setsockopt
// (SO_ATTACH_FILTER): BPF_STMT(code, k) and BPF_JUMP(code, k, jt, jf),
// where code and k are "|" and "+" expressions of numbers.
func readStrace(t *testing.T, name string) []bpf.RawInstruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".strace"))
	if err != nil {
		t.Fatal(err)
	}
	num := func(s string) uint32 {
		var v uint64
		for _, or := range strings.Split(strings.TrimSpace(s), "|") {
			var sum uint64
			for _, term := range strings.Split(or, "+") {
				n, err := strconv.ParseUint(strings.TrimSpace(term), 0, 32)
				if err != nil {
					t.Fatalf("%s: %q: %v", name, s, err)
				}
				sum += n
			}
			v |= sum
		}
		return uint32(v)
	}
	var prog []bpf.RawInstruction
	for _, m := range bpfCall.FindAllStringSubmatch(string(b), -1) {
		args := strings.Split(m[2], ",")
		ins := bpf.RawInstruction{Op: uint16(num(args[0])), K: num(args[1])}
		if m[1] == "JUMP" {
			ins.Jt, ins.Jf = uint8(num(args[2])), uint8(num(args[3]))
		}
		prog = append(prog, ins)
	}
	if len(prog) == 0 {
		t.Fatalf("%s.strace holds no program", name)
	}
	return prog
}

func assemble(t *testing.T, prog []bpf.Instruction) []bpf.RawInstruction {
	t.Helper()
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestLegacyMatchesConntrackd shows that, with libnetfilter_conntrack's
// defects put back, the compiler emits the very program conntrackd attaches:
// same sections, order, encodings and jump offsets.
func TestLegacyMatchesConntrackd(t *testing.T) {
	for name, s := range goldenSettings {
		t.Run(name, func(t *testing.T) {
			want := readStrace(t, name)
			prog, err := compile(s, true)
			if err != nil {
				t.Fatal(err)
			}
			got := assemble(t, prog)
			if len(got) != len(want) {
				t.Errorf("%d instructions, conntrackd has %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("instruction %d: got %+v, conntrackd has %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestCompileDiffersOnlyWhereConntrackdIsWrong pins the fixes: programs
// without IPv4 or multi-entry IPv6 address sets and without Accept address
// sets are conntrackd's exactly.
func TestCompileDiffersOnlyWhereConntrackdIsWrong(t *testing.T) {
	tests := []struct {
		name string
		same bool
	}{
		{"state", true},
		{"mixed", false},      // IPv4 lookups bounded to the tuple, IPv6 mismatch to next entry
		{"ipv6-max", false},   // IPv6 mismatch to next entry, Accept drops IPv4
		{"everything", false}, // IPv4 lookups
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := Compile(goldenSettings[tt.name])
			if err != nil {
				t.Fatal(err)
			}
			got, want := assemble(t, prog), readStrace(t, tt.name)
			same := fmt.Sprint(got) == fmt.Sprint(want)
			if same != tt.same {
				t.Errorf("same as conntrackd's program: %v, want %v", same, tt.same)
			}
		})
	}
}
