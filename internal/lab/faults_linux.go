package lab

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SyncFaults are what DegradeSync does to the sync messages (UDP to or
// from SyncPort) crossing a firewall's sync links.
type SyncFaults struct {
	// DropPercent of the datagrams arriving are dropped, at random
	// (nftables' numgen random), on the netdev ingress hook: before
	// anything of the firewall sees them.
	DropPercent int
	// DupPercent of the datagrams leaving are sent twice, at random
	// (nftables' dup on the netdev egress hook): the peer receives a
	// duplicate right after the original.
	DupPercent int
}

// faultTable is the nftables table DegradeSync loads, of its own so that
// HealSync removes it alone.
const faultTable = "lab_sync_faults"

// DegradeSync makes n's sync links lose and duplicate datagrams as f says,
// until HealSync or the end of the test (the namespace goes with it).
// The kernel's netem qdisc would also delay and reorder, but the lab's
// kernels need not have it (sch_netem is missing on some): Replay
// delivers late copies instead.
func (n *Node) DegradeSync(t T, f SyncFaults) {
	t.Helper()
	if f.DropPercent < 0 || f.DropPercent > 100 || f.DupPercent < 0 || f.DupPercent > 100 {
		t.Fatalf("DegradeSync %+v: percentages from 0 to 100", f)
	}
	n.HealSync(t)
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s {\n", faultTable)
	for i, s := range n.SyncLinks {
		// Named counters: SyncFaultCounts reads what the rules did.
		fmt.Fprintf(&b, "\tcounter dropped%d {}\n\tcounter duplicated%d {}\n", i, i)
		fmt.Fprintf(&b, "\tchain in%d {\n\t\ttype filter hook ingress device %q priority 0;\n", i, s.Name)
		if f.DropPercent > 0 {
			fmt.Fprintf(&b, "\t\tudp dport %d numgen random mod 100 < %d counter name dropped%d drop\n", SyncPort, f.DropPercent, i)
		}
		fmt.Fprintf(&b, "\t}\n\tchain out%d {\n\t\ttype filter hook egress device %q priority 0;\n", i, s.Name)
		if f.DupPercent > 0 {
			fmt.Fprintf(&b, "\t\tudp dport %d numgen random mod 100 < %d counter name duplicated%d dup to %q\n", SyncPort, f.DupPercent, i, s.Name)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	n.NFT(t, b.String())
}

// HealSync undoes DegradeSync.
func (n *Node) HealSync(t T) {
	t.Helper()
	// No table yet is fine: nothing to remove.
	n.Command("nft", "delete", "table", "netdev", faultTable).Run()
}

var counterPackets = regexp.MustCompile(`counter (dropped|duplicated)\d+ \{\s*packets (\d+)`)

// SyncFaultCounts returns how many datagrams DegradeSync's rules have
// dropped and duplicated on n so far, over all its sync links.
func (n *Node) SyncFaultCounts(t T) (dropped, duplicated int) {
	t.Helper()
	out, err := n.Command("nft", "list", "table", "netdev", faultTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table in %s: %v: %s", n.Role, err, out)
	}
	for _, m := range counterPackets.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.Atoi(m[2])
		if m[1] == "dropped" {
			dropped += v
		} else {
			duplicated += v
		}
	}
	return dropped, duplicated
}

// SetSyncLink sets n's i-th sync link (SyncLinks) up or down, as an
// operator or a failing cable does: the peer's end loses its carrier.
func (n *Node) SetSyncLink(t T, i int, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	n.Exec(t, "ip", "link", "set", n.SyncLinks[i].Name, state)
}
