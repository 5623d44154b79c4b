package kbpf

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/ctsync/ctsync/filter"
)

func TestCompileNoStages(t *testing.T) {
	prog, err := Compile(filter.Settings{})
	if err != nil || prog != nil {
		t.Errorf("Compile(no stages) = %v, %v; want no program", prog, err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		stages []filter.Stage
		want   string
	}{
		{"too many IPv4 entries", []filter.Stage{addrStage(filter.Ignore, seq("198.18.%d.0/24", 0, 127)...)},
			"filter stage 1 (address): 128 IPv4 and 0 IPv6 entries: the kernel filter holds at most 127 IPv4 and 20 IPv6 entries per set"},
		{"too many IPv6 entries", []filter.Stage{addrStage(filter.Accept, seq("2001:db8:%x::/48", 0, 20)...)},
			"0 IPv4 and 21 IPv6 entries"},
		{"too many instructions", []filter.Stage{
			// 6 full sets: 6 × (2 × 127 × 3 + 2 × 20 × 12) instructions.
			addrStage(filter.Ignore, append(seq("198.18.0.%d", 1, 127), seq("2001:db8::%x", 1, 20)...)...),
			addrStage(filter.Ignore, append(seq("198.18.1.%d", 1, 127), seq("2001:db8::1:%x", 1, 20)...)...),
			addrStage(filter.Ignore, append(seq("198.18.2.%d", 1, 127), seq("2001:db8::2:%x", 1, 20)...)...),
			addrStage(filter.Ignore, append(seq("198.18.3.%d", 1, 127), seq("2001:db8::3:%x", 1, 20)...)...),
			addrStage(filter.Ignore, append(seq("198.18.4.%d", 1, 127), seq("2001:db8::4:%x", 1, 20)...)...),
			addrStage(filter.Ignore, append(seq("198.18.5.%d", 1, 127), seq("2001:db8::5:%x", 1, 20)...)...),
		}, "more than the kernel's 4096"},
		{"state above 15", []filter.Stage{stateStage(filter.Accept, 16)}, "TCP state 16 is out of range"},
		{"unknown policy", []filter.Stage{{Kind: filter.KindProtocol, Policy: 7}}, "unknown policy 7"},
		{"unknown kind", []filter.Stage{{Kind: 7}}, "unknown kind 7"},
		{"invalid prefix", []filter.Stage{{Kind: filter.KindAddress, Prefixes: []netip.Prefix{{}}}}, "invalid prefix"},
		{"protocols in an address stage", []filter.Stage{{Kind: filter.KindAddress, Protocols: []uint8{6}}}, "an address stage lists protocols"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(filter.Settings{Stages: tt.stages})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestLongBranches checks that a program too long for 8-bit offsets gets
// long jumps that stay inside it, and that a program that fits keeps
// one-instruction branches. Where the long branches land is checked by
// running the programs (TestKernelFilter, 127 hosts).
func TestLongBranches(t *testing.T) {
	long := filter.Settings{Stages: []filter.Stage{
		protoStage(filter.Accept, 6, 17),
		addrStage(filter.Accept, append(seq("198.18.0.%d", 1, 127), seq("2001:db8::%x", 1, 20)...)...),
		stateStage(filter.Ignore, synSent),
	}}
	prog, err := Compile(long)
	if err != nil {
		t.Fatal(err)
	}
	raw := assemble(t, prog)
	jumps := 0
	for i, ins := range raw {
		switch {
		case ins.Op == 0x05: // BPF_JMP|BPF_JA
			jumps++
			if next := i + 1 + int(ins.K); next >= len(raw) {
				t.Errorf("instruction %d jumps to %d, past the end (%d)", i, next, len(raw))
			}
		case ins.Op&0x07 == 0x05: // conditional
			for _, off := range []uint8{ins.Jt, ins.Jf} {
				if next := i + 1 + int(off); next >= len(raw) {
					t.Errorf("instruction %d branches to %d, past the end (%d)", i, next, len(raw))
				}
			}
		}
	}
	// The IPv4 sections need long branches, the others none.
	if jumps == 0 {
		t.Error("no long jumps in a program with 127 IPv4 entries")
	}
	if _, ok := prog[len(prog)-1].(bpf.RetConstant); !ok {
		t.Errorf("the last instruction is %v, want a return", prog[len(prog)-1])
	}

	// Short programs keep libnetfilter_conntrack's one-instruction
	// branches: no unconditional jump except the ones closing Ignore
	// sections.
	short, err := Compile(filter.Settings{Stages: []filter.Stage{addrStage(filter.Accept, seq("198.18.0.%d", 1, 82)...)}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ins := range short {
		if _, ok := ins.(bpf.Jump); ok {
			t.Errorf("instruction %d is a long jump in an 82-entry Accept program", i)
		}
	}
}
