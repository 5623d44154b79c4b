package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// filterSrc is a legacy file with one Filter block (From kernel or user
// space) holding one Address block per policy given, one entry per line
// from line 3 on.
func filterSrc(from, policy string, entries ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "General {\n Filter From %s {\n", from)
	fmt.Fprintf(&b, "  Address %s {\n", policy)
	for _, e := range entries {
		kw := "IPv4_address"
		if strings.Contains(e, ":") {
			kw = "IPv6_address"
		}
		fmt.Fprintf(&b, "   %s %s\n", kw, e)
	}
	b.WriteString("  }\n }\n}\n")
	return b.String()
}

func hosts4(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("198.18.%d.%d", i/256, i%256))
	}
	return out
}

// filterDefectsIn returns the FilterDefects reported for src, as "id@line".
func filterDefectsIn(t *testing.T, src string) []string {
	t.Helper()
	ids := map[string]bool{}
	for _, q := range FilterDefects {
		ids[q.ID] = true
	}
	_, diags := Parse("t.conf", []byte(src), Options{InterfaceExists: func(string) bool { return true }})
	if diags.HasErrors() {
		t.Fatalf("unexpected error: %v", diags)
	}
	var got []string
	for _, d := range diags {
		id, ok := strings.CutSuffix(d.Detail, ")")
		if i := strings.LastIndex(id, "(quirk "); d.Code == "legacy-quirk" && ok && i >= 0 && ids[id[i+7:]] {
			got = append(got, fmt.Sprintf("%s@%d", id[i+7:], d.Pos.Line))
		}
	}
	return got
}

// TestFilterDefectWarnings: a legacy filter that conntrackd 1.4.7 applies
// differently from ctsync gets a warning at the entry concerned, and one
// that both apply alike gets none. Entries are on lines 4, 5, ...; the
// Address block is on line 3.
func TestFilterDefectWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// User space (and kernel dumps): ::/0 right after 0.0.0.0/0 is lost.
		{"::/0 after 0.0.0.0/0", filterSrc("Userspace", "Accept", "0.0.0.0/0", "::/0"), []string{"ipv6-netmask-duplicate@5"}},
		{"::/0 before 0.0.0.0/0", filterSrc("Userspace", "Accept", "::/0", "0.0.0.0/0"), nil},
		{"0.0.0.0/0 not the last network", filterSrc("Userspace", "Ignore", "0.0.0.0/0", "10.0.0.0/8", "::/0"), nil},
		{"0.0.0.0/0 the last of two", filterSrc("Userspace", "Ignore", "10.0.0.0/8", "0.0.0.0/0", "::/0"), []string{"ipv6-netmask-duplicate@6"}},
		{"0.0.0.0/0 the 7th network", filterSrc("Userspace", "Ignore", "1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8", "4.0.0.0/8", "5.0.0.0/8", "6.0.0.0/8", "0.0.0.0/0", "::/0"), nil},
		{"a host is not a network", filterSrc("Userspace", "Accept", "0.0.0.0/0", "::"), nil},

		// Kernel space, IPv6 lists: a mismatch in the first 96 bits ends the search.
		{"IPv6 list, second entry skipped", filterSrc("Kernelspace", "Ignore", "2001:db8::1", "2001:db8:1::/48"), []string{"kernel-ipv6-skip@5"}},
		{"IPv6 networks side by side", filterSrc("Kernelspace", "Accept", "2001:db8:1::/48", "2001:db8:2::/48"), []string{"kernel-accept-family@3", "kernel-ipv6-skip@5"}},
		{"IPv6 hosts of one /96", filterSrc("Kernelspace", "Ignore", "2001:db8::1", "2001:db8::2", "2001:db8::3"), nil},
		{"IPv6 entry inside an earlier one", filterSrc("Kernelspace", "Ignore", "2001:db8::/32", "2001:db8:1::/48"), nil},
		{"IPv6 entry after ::/0", filterSrc("Kernelspace", "Ignore", "::/0", "2001:db8::1", "2001:db8:1::/48"), nil},
		{"IPv6 list in user space", filterSrc("Userspace", "Ignore", "2001:db8::1", "2001:db8:1::/48"), nil},

		// Kernel space: IPv6 events compared with IPv4 entries as 5.0.1.0.
		{"Accept with both families", filterSrc("Kernelspace", "Accept", "198.18.0.0/15", "2001:db8::/32"), []string{"kernel-ipv6-as-ipv4@3"}},
		{"Accept with both families, 5.0.1.0 listed", filterSrc("Kernelspace", "Accept", "5.0.0.0/8", "2001:db8::/32"), nil},
		{"Ignore holding 5.0.1.0", filterSrc("Kernelspace", "Ignore", "198.18.0.1", "5.0.1.0/24"), []string{"kernel-ipv6-as-ipv4@5"}},
		{"Ignore 0.0.0.0/0", filterSrc("Kernelspace", "Ignore", "0.0.0.0/0"), []string{"kernel-ipv6-as-ipv4@4"}},
		{"Ignore 0.0.0.0/0 and ::/0", filterSrc("Kernelspace", "Ignore", "::/0", "0.0.0.0/0"), nil},
		{"Ignore without 5.0.1.0", filterSrc("Kernelspace", "Ignore", "198.18.0.0/15", "2001:db8::/32"), nil},
		{"Ignore 5.0.1.0 in user space", filterSrc("Userspace", "Ignore", "5.0.1.0"), nil},

		// Kernel space: Accept lists without entries of a family.
		{"Accept with IPv6 entries only", filterSrc("Kernelspace", "Accept", "2001:db8::/32"), []string{"kernel-accept-family@3"}},
		{"Accept with IPv4 entries only", filterSrc("Kernelspace", "Accept", "198.18.0.0/15"), nil},
		{"Accept with IPv4 entries only, 5.0.1.0 listed", filterSrc("Kernelspace", "Accept", "0.0.0.0/0"), []string{"kernel-accept-family@3"}},

		// Kernel space: 8-bit jumps wrap from 86 IPv4 entries.
		{"85 IPv4 entries", filterSrc("Kernelspace", "Accept", hosts4(85)...), nil},
		{"86 IPv4 entries", filterSrc("Kernelspace", "Accept", hosts4(86)...), []string{"kernel-ipv4-jumps@89"}},
		{"127 IPv4 entries, Ignore", filterSrc("Kernelspace", "Ignore", hosts4(127)...), []string{"kernel-ipv4-jumps@89"}},
		{"127 IPv4 entries in user space", filterSrc("Userspace", "Ignore", hosts4(127)...), nil},

		// The last Filter header and the last policy decide, as in conntrackd.
		{"Kernelspace replaced by Userspace",
			"General {\n Filter From Kernelspace { Address Accept { IPv6_address 2001:db8::/32 } }\n Filter From Userspace { }\n}\n", nil},
		{"Accept merged into Ignore",
			"General {\n Filter From Kernelspace {\n  Address Accept { IPv6_address 2001:db8::/32 }\n  Address Ignore { IPv4_address 198.18.0.1 }\n }\n}\n", nil},
		{"Ignore merged into Accept",
			"General {\n Filter From Kernelspace {\n  Address Ignore { IPv6_address 2001:db8::/32 }\n  Address Accept { IPv4_address 198.18.0.1 }\n }\n}\n", []string{"kernel-ipv6-as-ipv4@4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterDefectsIn(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("filter defects %v, want %v\n%s", got, tt.want, tt.src)
			}
		})
	}
}

// TestIPv6NetmaskDuplicateAgainstConntrackd: conntrackd 1.4.7 says "netmask
// ... is repeated" exactly for the IPv6 networks the parser reports lost
// (it then leaves them out of its user-space filter; filter's
// TestAgainstConntrackd shows the flows it drops).
func TestIPv6NetmaskDuplicateAgainstConntrackd(t *testing.T) {
	requireConntrackd(t)
	cases := [][]string{
		{"0.0.0.0/0", "::/0"},
		{"::/0", "0.0.0.0/0"},
		{"0.0.0.0/0", "10.0.0.0/8", "::/0"},
		{"10.0.0.0/8", "0.0.0.0/0", "::/0"},
		{"0.0.0.0/0", "::/1"},
		{"0.0.0.0/0", "2001:db8::/32", "2001:db8::/32"},
		{"1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8", "4.0.0.0/8", "5.0.0.0/8", "6.0.0.0/8", "0.0.0.0/0", "::/0"},
		{"1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8", "4.0.0.0/8", "0.0.0.0/0", "::/0"},
	}
	dir := t.TempDir()
	for n, entries := range cases {
		src := filterSrc("Userspace", "Ignore", entries...)
		f := filepath.Join(dir, fmt.Sprintf("case%d.conf", n))
		if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := exec.CommandContext(ctx, conntrackdBin, "-C", f, "-s").CombinedOutput()
		cancel()
		lost := strings.Contains(string(out), "netmask :: is repeated")
		got := len(filterDefectsIn(t, src)) > 0
		if got != lost {
			t.Errorf("%v: parser reports a lost IPv6 network: %v, conntrackd: %v (%s)", entries, got, lost, out)
		}
	}
}
