package filter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// oracleEntry is a synthetic conntrack entry (198.18.0.0/15 and
// 2001:db8::/32 carry no traffic), named by its original source port or
// ICMP id.
type oracleEntry struct {
	id   uint16
	args string // conntrack -I arguments, without the id
	flow Flow
}

func oracleZoo() []oracleEntry {
	tcp := func(id uint16, src, dst, rsrc, state string, s TCPState) oracleEntry {
		args := fmt.Sprintf("-p tcp -s %s -d %s --sport %d --dport 80 --state %s", src, dst, id, state)
		if rsrc != dst {
			args += fmt.Sprintf(" --reply-src %s --reply-dst %s --reply-port-src 80 --reply-port-dst %d", rsrc, src, id)
		}
		f := flow4(src, dst, rsrc)
		if strings.Contains(src, ":") {
			f = flow6(src, dst)
		}
		f.TCPState = s
		return oracleEntry{id, args, f}
	}
	udp := func(id uint16, src, dst string) oracleEntry {
		e := tcp(id, src, dst, dst, "", 0)
		e.args = fmt.Sprintf("-p udp -s %s -d %s --sport %d --dport 53", src, dst, id)
		e.flow.Protocol, e.flow.HasTCPState = protoUDP, false
		return e
	}
	icmp := udp(4, "198.18.0.3", "198.18.0.4")
	icmp.args = "-p icmp -s 198.18.0.3 -d 198.18.0.4 --icmp-type 8 --icmp-code 0 --icmp-id 4"
	icmp.flow.Protocol = protoICMP
	return []oracleEntry{
		tcp(1, "198.18.0.1", "198.18.0.2", "198.18.0.2", "ESTABLISHED", established),
		tcp(2, "198.18.0.1", "198.18.1.2", "198.18.1.2", "SYN_SENT", synSent),
		udp(3, "198.18.0.3", "198.18.0.4"),
		icmp,
		tcp(5, "198.18.5.1", "198.19.0.2", "198.19.0.2", "TIME_WAIT", timeWait),
		// DNAT: the client asked for 198.18.0.20, served by 198.18.6.9.
		tcp(6, "198.18.0.1", "198.18.0.20", "198.18.6.9", "ESTABLISHED", established),
		tcp(7, "2001:db8::1", "2001:db8::2", "2001:db8::2", "ESTABLISHED", established),
		tcp(8, "2001:db8:1::5", "2001:db8:1::6", "2001:db8:1::6", "SYN_SENT", synSent),
		udp(9, "2001:db8:2::1", "2001:db8:2::2"),
	}
}

// legacyFilter writes stages as conntrackd.conf's Filter block, one set
// per kind as conntrackd allows.
func legacyFilter(t *testing.T, stages []Stage) string {
	protoNames := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 132: "sctp"}
	stateNames := map[TCPState]string{synSent: "SYN_SENT", established: "ESTABLISHED", timeWait: "TIME_WAIT", closeState: "CLOSE"}
	var b strings.Builder
	b.WriteString("\tFilter From Userspace {\n")
	for _, st := range stages {
		policy := map[Policy]string{Accept: "Accept", Ignore: "Ignore"}[st.Policy]
		switch st.Kind {
		case KindProtocol:
			var names []string
			for _, p := range st.Protocols {
				names = append(names, protoNames[p])
			}
			fmt.Fprintf(&b, "\t\tProtocol %s { %s }\n", policy, strings.Join(names, " "))
		case KindAddress:
			fmt.Fprintf(&b, "\t\tAddress %s {\n", policy)
			for _, p := range st.Prefixes {
				kw := "IPv4_address"
				if p.Addr().Is6() {
					kw = "IPv6_address"
				}
				if p.IsSingleIP() {
					fmt.Fprintf(&b, "\t\t\t%s %s\n", kw, p.Addr())
				} else {
					fmt.Fprintf(&b, "\t\t\t%s %s\n", kw, p)
				}
			}
			b.WriteString("\t\t}\n")
		case KindTCPState:
			var names []string
			for _, s := range st.TCPStates {
				names = append(names, stateNames[s])
			}
			fmt.Fprintf(&b, "\t\tState %s { %s for TCP }\n", policy, strings.Join(names, " "))
		default:
			t.Fatalf("kind %v", st.Kind)
		}
	}
	b.WriteString("\t}\n")
	return b.String()
}

var cacheID = regexp.MustCompile(`(?:sport|id)=(\d+)`)

// conntrackdKeeps starts conntrackd 1.4.7 in ns with the filter and
// returns the ids of the entries in its internal cache: the initial dump
// of the kernel table goes through the user-space filter.
func conntrackdKeeps(t *testing.T, ns *netnstest.NetNS, stages []Stage) []uint16 {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "conntrackd.conf")
	text := fmt.Sprintf(`Sync {
	Mode NOTRACK { }
	UDP {
		IPv4_address 127.0.0.1
		IPv4_Destination_Address 127.0.0.2
		Port 3780
		Interface lo
	}
}
General {
	LockFile %[1]s/lock
	UNIX { Path %[1]s/ctl }
%[2]s}
`, dir, legacyFilter(t, stages))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon := ns.Command("conntrackd", "-C", conf)
	var log strings.Builder
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Kill()
		daemon.Wait()
	}()
	// The dump is done before the control socket answers.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := ns.Command("conntrackd", "-C", conf, "-i").CombinedOutput()
		if err == nil {
			var ids []uint16
			// The first id of a line is the original tuple's. Lines of
			// other flows (the sync link's own) are not the test's.
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if !strings.Contains(line, "src=198.1") && !strings.Contains(line, "src=2001:db8:") {
					continue
				}
				if m := cacheID.FindStringSubmatch(line); m != nil {
					n, _ := strconv.Atoi(m[1])
					ids = append(ids, uint16(n))
				}
			}
			slices.Sort(ids)
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("conntrackd -i: %v: %s\nconntrackd: %s", err, out, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgainstConntrackd runs the same filters in conntrackd 1.4.7 and in
// Chain over the same conntrack entries and checks that both keep the
// expected ones.
func TestAgainstConntrackd(t *testing.T) {
	netnstest.RequirePrivileged(t)
	for _, tool := range []string{"conntrack", "conntrackd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no %s command (Debian package %s)", tool, tool)
			}
			t.Skipf("skipping: no %s command (Debian package %s)", tool, tool)
		}
	}
	ns := netnstest.NewNetNS(t)
	zoo := oracleZoo()
	for _, e := range zoo {
		ns.Exec(t, "conntrack", append([]string{"-I", "-t", "600"}, strings.Fields(e.args)...)...)
	}
	addr := func(p Policy, ss ...string) Stage { return Stage{Kind: KindAddress, Policy: p, Prefixes: pfx(ss...)} }
	tests := []struct {
		name   string
		stages []Stage
		want   []uint16
		// conntrackd is what conntrackd keeps where a defect makes it
		// differ from want; nil when it agrees.
		conntrackd []uint16
	}{
		{"no filter", nil, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}, nil},
		{"protocol accept", []Stage{{Kind: KindProtocol, Policy: Accept, Protocols: []uint8{6, 132}}}, []uint16{1, 2, 5, 6, 7, 8}, nil},
		{"protocol ignore", []Stage{{Kind: KindProtocol, Policy: Ignore, Protocols: []uint8{17, 1}}}, []uint16{1, 2, 5, 6, 7, 8}, nil},
		{"state accept", []Stage{{Kind: KindTCPState, Policy: Accept, TCPStates: []TCPState{established}}}, []uint16{1, 3, 4, 6, 7, 9}, nil},
		{"state ignore", []Stage{{Kind: KindTCPState, Policy: Ignore, TCPStates: []TCPState{synSent, timeWait}}}, []uint16{1, 3, 4, 6, 7, 9}, nil},
		// Reply source (6: 198.18.6.9), not original destination.
		{"address ignore, reply source", []Stage{addr(Ignore, "198.18.6.9")}, []uint16{1, 2, 3, 4, 5, 7, 8, 9}, nil},
		{"address ignore, original destination", []Stage{addr(Ignore, "198.18.0.20")}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}, nil},
		{"address ignore, networks", []Stage{addr(Ignore, "198.19.0.0/16", "2001:db8:1::/48")}, []uint16{1, 2, 3, 4, 6, 7, 9}, nil},
		// Either end listed is enough; IPv6 flows go without IPv6 entries.
		{"address accept, hosts", []Stage{addr(Accept, "198.18.0.1", "198.18.0.4")}, []uint16{1, 2, 3, 4, 6}, nil},
		{"address accept, network", []Stage{addr(Accept, "198.18.0.0/24")}, []uint16{1, 2, 3, 4, 6}, nil},
		{"address accept, both families", []Stage{addr(Accept, "198.19.0.0/16", "2001:db8::/47")}, []uint16{5, 7, 8}, nil},
		// conntrackd 1.4.7 drops "::/0" written after "0.0.0.0/0": its
		// duplicate check for IPv6 networks compares 32 bytes of the IPv4
		// list (src/filter.c, ct_filter_add_netmask), which here holds the
		// all-zero 0.0.0.0/0 followed by zeroed memory. ctsync keeps both.
		{"address accept, everything", []Stage{addr(Accept, "0.0.0.0/0", "::/0")}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9},
			[]uint16{1, 2, 3, 4, 5, 6}},
		{"address accept, everything, IPv6 first", []Stage{addr(Accept, "::/0", "0.0.0.0/0")}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}, nil},
		{"address accept, all IPv6", []Stage{addr(Accept, "::/0")}, []uint16{7, 8, 9}, nil},
		{"chain", []Stage{
			{Kind: KindProtocol, Policy: Accept, Protocols: []uint8{6, 17}},
			addr(Ignore, "198.18.0.2"),
			{Kind: KindTCPState, Policy: Ignore, TCPStates: []TCPState{synSent}},
		}, []uint16{3, 5, 6, 7, 9}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legacy := tt.want
			if tt.conntrackd != nil {
				legacy = tt.conntrackd
			}
			if got := conntrackdKeeps(t, ns, tt.stages); !slices.Equal(got, legacy) {
				t.Errorf("conntrackd keeps %v, want %v", got, legacy)
			}
			c, err := New(Settings{Stages: tt.stages})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint16
			for _, e := range zoo {
				if c.Pass(&e.flow) {
					got = append(got, e.id)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Chain keeps %v, want %v", got, tt.want)
			}
		})
	}
}
