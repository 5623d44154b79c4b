// Package lab builds, for end-to-end tests, two stateful firewalls in
// network namespaces between a client and a server, with a dedicated sync
// link between the firewalls, the way conntrackd's primary-backup set-ups
// are built (conntrackd's doc/sync/ and docs/ of this repository):
//
//	client ── LAN switch ──┬── fw1 (primary) ──┬── WAN switch ── server
//	                       └── fw2 (backup)  ──┘
//	                           fw1 ═ sync link ═ fw2
//
// The client reaches the server through virtual addresses (LANVIP4/6 as
// its default gateway, WANVIP4/6 as the server's way back, or the address
// the firewalls SNAT to) that fw1 holds until FailOver moves them to fw2,
// as keepalived's VRRP does. The firewalls forward with a stateful
// nftables ruleset and nf_conntrack_tcp_loose=0, so a firewall forwards an
// established TCP connection only if its conntrack table already holds it:
// without state sync, fail-over breaks connections, which is what makes
// the lab an oracle for state sync.
//
// Every address is in 198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32 (the
// namespaces keep labs apart, so every lab uses the same plan), and
// everything is removed by t.Cleanup, also when the test fails. Building a
// lab needs root: New skips a test that cannot (netnstest.RequirePrivileged);
// Build, for the `ctsync lab` demo, checks nothing. t is a T: a
// *testing.T, or the demo's runner (internal/demo).
package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// T is what the lab needs of a test: *testing.T, or a runner outside `go
// test` such as `ctsync lab`'s.
type T = netnstest.T

// The addressing plan. LAN and sync link share 198.51.100.0/24, one half
// each; the WAN is 203.0.113.0/24.
var (
	LANVIP4 = netip.MustParseAddr("198.51.100.1")
	LANVIP6 = netip.MustParseAddr("2001:db8:1::1")
	WANVIP4 = netip.MustParseAddr("203.0.113.1")
	WANVIP6 = netip.MustParseAddr("2001:db8:2::1")

	ClientAddr4 = netip.MustParseAddr("198.51.100.10")
	ClientAddr6 = netip.MustParseAddr("2001:db8:1::10")
	ServerAddr4 = netip.MustParseAddr("203.0.113.10")
	ServerAddr6 = netip.MustParseAddr("2001:db8:2::10")

	// SyncGroup4 is the multicast group of the sync link; SyncGroup6 is
	// link-local, so it never leaves the veth.
	SyncGroup4 = netip.MustParseAddr("225.0.0.50")
	SyncGroup6 = netip.MustParseAddr("ff02::1:50")
)

// SyncPort is the UDP port of the sync link.
const SyncPort = 3780

// Role names a node of the lab.
type Role string

const (
	Client Role = "client"
	FW1    Role = "fw1"
	FW2    Role = "fw2"
	Server Role = "server"
)

// plan is the topology as data: each node's addresses on each network it
// is on. The virtual addresses are not here: they belong to whichever
// firewall is active.
var plan = []struct {
	role               Role
	lan, wan, syncLink []string
}{
	{role: Client, lan: []string{"198.51.100.10/25", "2001:db8:1::10/64"}},
	{role: FW1,
		lan:      []string{"198.51.100.2/25", "2001:db8:1::2/64"},
		wan:      []string{"203.0.113.2/24", "2001:db8:2::2/64"},
		syncLink: []string{"198.51.100.129/25", "2001:db8:3::1/64"}},
	{role: FW2,
		lan:      []string{"198.51.100.3/25", "2001:db8:1::3/64"},
		wan:      []string{"203.0.113.3/24", "2001:db8:2::3/64"},
		syncLink: []string{"198.51.100.130/25", "2001:db8:3::2/64"}},
	{role: Server, wan: []string{"203.0.113.10/24", "2001:db8:2::10/64"}},
}

// Options say how to build a lab.
type Options struct {
	// NAT makes the firewalls SNAT what they forward to the WAN to
	// WANVIP4/WANVIP6, so synced entries carry NAT; the server then has
	// no route to the LAN, only to the firewalls' WAN network.
	NAT bool
	// SyncLinks is how many dedicated sync links join the firewalls, 1
	// (also when 0) or 2: redundant links, as conntrackd's doc/sync/
	// set-ups with a second link; CtsyncConfigWith then configures one
	// link block for each, the first the default.
	SyncLinks int
}

// syncLink2 is the plan of the second sync link (Options.SyncLinks), on
// fw1 and fw2: a network of its own, inside the 198.51.100.128/25 the
// lab's filters keep off the link, so that a second link changes no
// firewall's view of the first.
var syncLink2 = [2][]string{
	{"198.51.100.193/26", "2001:db8:4::1/64"},
	{"198.51.100.194/26", "2001:db8:4::2/64"},
}

// Node is one namespace of the lab.
type Node struct {
	*netnstest.NetNS
	Role Role
	// LAN, WAN and Sync are the node's interfaces on each network, ""
	// where it has none.
	LAN, WAN, Sync string
	// LANAddrs, WANAddrs and SyncAddrs are the node's own addresses on
	// each, IPv4 first.
	LANAddrs, WANAddrs, SyncAddrs []netip.Prefix
	// SyncLinks are a firewall's sync links, the first being Sync and
	// SyncAddrs, then the second if Options.SyncLinks asked for one.
	SyncLinks []SyncIface
}

// SyncIface is a firewall's end of one sync link.
type SyncIface struct {
	Name  string
	Addrs []netip.Prefix // IPv4 first
}

// Lab is a built lab.
type Lab struct {
	Client, FW1, FW2, Server *Node
	// Switch holds the LAN and WAN bridges.
	Switch *netnstest.NetNS
	Opts   Options

	dir    string
	active *Node
	starts int
}

// Nodes returns the four nodes in plan order.
func (l *Lab) Nodes() []*Node { return []*Node{l.Client, l.FW1, l.FW2, l.Server} }

// Active returns the firewall holding the virtual addresses.
func (l *Lab) Active() *Node { return l.active }

// New builds a lab, with fw1 active. It skips t unless privileged tests
// can run.
func New(t T, opts Options) *Lab {
	t.Helper()
	netnstest.RequirePrivileged(t)
	return Build(t, opts)
}

// Build builds a lab, with fw1 active, without New's check: the caller
// made sure it runs as root with ip, nft and conntrack installed.
func Build(t T, opts Options) *Lab {
	t.Helper()
	l := &Lab{Opts: opts, dir: t.TempDir(), Switch: netnstest.NewNetNS(t)}
	nodes := map[Role]*Node{}
	for _, p := range plan {
		n := &Node{NetNS: netnstest.NewNetNS(t), Role: p.role,
			LANAddrs: prefixes(p.lan), WANAddrs: prefixes(p.wan), SyncAddrs: prefixes(p.syncLink)}
		nodes[p.role] = n
	}
	l.Client, l.FW1, l.FW2, l.Server = nodes[Client], nodes[FW1], nodes[FW2], nodes[Server]

	// The switch: two plain bridges. Bridged frames skip netfilter, so
	// the switch tracks nothing even where br_netfilter is loaded.
	for _, br := range []string{"lan", "wan"} {
		l.Switch.Exec(t, "ip", "link", "add", br, "type", "bridge",
			"nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0")
		l.Switch.Exec(t, "ip", "link", "set", br, "up")
	}
	for _, n := range l.Nodes() {
		if n.LANAddrs != nil {
			port, ifc := netnstest.Veth(t, l.Switch, n.NetNS, nil, n.LANAddrs)
			l.Switch.Exec(t, "ip", "link", "set", port, "master", "lan")
			n.LAN = ifc
		}
		if n.WANAddrs != nil {
			port, ifc := netnstest.Veth(t, l.Switch, n.NetNS, nil, n.WANAddrs)
			l.Switch.Exec(t, "ip", "link", "set", port, "master", "wan")
			n.WAN = ifc
		}
	}
	if opts.SyncLinks < 0 || opts.SyncLinks > 2 {
		t.Fatalf("lab: %d sync links: 1 or 2", opts.SyncLinks)
	}
	l.FW1.Sync, l.FW2.Sync = netnstest.Veth(t, l.FW1.NetNS, l.FW2.NetNS, l.FW1.SyncAddrs, l.FW2.SyncAddrs)
	l.FW1.SyncLinks = []SyncIface{{l.FW1.Sync, l.FW1.SyncAddrs}}
	l.FW2.SyncLinks = []SyncIface{{l.FW2.Sync, l.FW2.SyncAddrs}}
	if opts.SyncLinks == 2 {
		a1, a2 := prefixes(syncLink2[0]), prefixes(syncLink2[1])
		i1, i2 := netnstest.Veth(t, l.FW1.NetNS, l.FW2.NetNS, a1, a2)
		l.FW1.SyncLinks = append(l.FW1.SyncLinks, SyncIface{i1, a1})
		l.FW2.SyncLinks = append(l.FW2.SyncLinks, SyncIface{i2, a2})
	}

	for _, fw := range []*Node{l.FW1, l.FW2} {
		l.setUpFirewall(t, fw)
	}
	l.Client.Exec(t, "ip", "route", "add", "default", "via", LANVIP4.String())
	l.Client.Exec(t, "ip", "-6", "route", "add", "default", "via", LANVIP6.String())
	if !opts.NAT {
		// Without NAT the server answers the client's own address.
		l.Server.Exec(t, "ip", "route", "add", "198.51.100.0/25", "via", WANVIP4.String())
		l.Server.Exec(t, "ip", "-6", "route", "add", "2001:db8:1::/64", "via", WANVIP6.String())
	}
	addVIPs(t, l.FW1)
	l.active = l.FW1
	return l
}

func prefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// setUpFirewall makes fw route statefully.
func (l *Lab) setUpFirewall(t T, fw *Node) {
	t.Helper()
	nat := ""
	if l.Opts.NAT {
		nat = fmt.Sprintf(`
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname %[1]q meta nfproto ipv4 snat ip to %[2]s
		oifname %[1]q meta nfproto ipv6 snat ip6 to %[3]s
	}`, fw.WAN, WANVIP4, WANVIP6)
	}
	// The sync links are not tracked: their datagrams are the firewalls'
	// own business, and conntrackd would otherwise sync its own link.
	// Forwarding is stateful: new connections only from the LAN, then
	// only what conntrack knows.
	var syncs []string
	for _, s := range fw.SyncLinks {
		syncs = append(syncs, strconv.Quote(s.Name))
	}
	fw.NFT(t, fmt.Sprintf(`table inet lab {
	chain raw_prerouting {
		type filter hook prerouting priority raw;
		iifname { %[1]s } notrack
	}
	chain raw_output {
		type filter hook output priority raw;
		oifname { %[1]s } notrack
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state new iifname %[2]q oifname %[3]q accept
	}%[4]s
}`, strings.Join(syncs, ", "), fw.LAN, fw.WAN, nat))
	// The netfilter sysctls exist once the ruleset made the kernel load
	// nf_conntrack. tcp_loose=0: a firewall must not adopt a TCP
	// connection from a mid-stream packet (conntrackd's manual asks for
	// it on synced firewalls), or a backup would carry connections it
	// was never told about and fail-over would prove nothing.
	err := fw.Do(func() error {
		for _, s := range []struct{ file, value string }{
			{"net/ipv4/ip_forward", "1"},
			{"net/ipv6/conf/all/forwarding", "1"},
			{"net/netfilter/nf_conntrack_events", "1"},
			{"net/netfilter/nf_conntrack_tcp_loose", "0"},
		} {
			if err := os.WriteFile(filepath.Join("/proc/sys", s.file), []byte(s.value), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s (%s): sysctl: %v", fw.Role, fw.Name, err)
	}
	// The sync link carries multicast.
	fw.Exec(t, "ip", "route", "add", "224.0.0.0/4", "dev", fw.Sync)
}

// NFT loads an nftables ruleset into n.
func (n *Node) NFT(t T, rules string) {
	t.Helper()
	cmd := n.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s (%s): %v: %s\n%s", n.Role, n.Name, err, out, rules)
	}
}

func vips(fw *Node) [][2]string {
	return [][2]string{
		{fw.LAN, LANVIP4.String() + "/25"},
		{fw.LAN, LANVIP6.String() + "/64"},
		{fw.WAN, WANVIP4.String() + "/24"},
		{fw.WAN, WANVIP6.String() + "/64"},
	}
}

func addVIPs(t T, fw *Node) {
	t.Helper()
	for _, v := range vips(fw) {
		args := []string{"addr", "add", v[1], "dev", v[0]}
		if strings.Contains(v[1], ":") {
			args = append(args, "nodad")
		}
		fw.Exec(t, "ip", args...)
	}
}

// FailOver moves the virtual addresses from the active firewall to the
// other one, as keepalived does when the backup takes over, and returns
// the new active firewall. Keepalived announces the move with gratuitous
// ARP and unsolicited neighbour advertisements; FailOver has the same
// effect, deterministically, by dropping the client's and the server's
// neighbour entries for the virtual addresses, so their next packet asks
// who holds them now. Connections are left alone: whether they survive is
// up to the firewalls' conntrack tables.
func (l *Lab) FailOver(t T) *Node {
	t.Helper()
	from, to := l.FW1, l.FW2
	if l.active == l.FW2 {
		from, to = l.FW2, l.FW1
	}
	for _, v := range vips(from) {
		from.Exec(t, "ip", "addr", "del", v[1], "dev", v[0])
	}
	addVIPs(t, to)
	for _, h := range []struct {
		n    *Node
		ifc  string
		vips []netip.Addr
	}{{l.Client, l.Client.LAN, []netip.Addr{LANVIP4, LANVIP6}}, {l.Server, l.Server.WAN, []netip.Addr{WANVIP4, WANVIP6}}} {
		for _, a := range h.vips {
			// No entry yet is fine: nothing to forget.
			h.n.Command("ip", "neigh", "del", a.String(), "dev", h.ifc).Run()
		}
	}
	l.active = to
	return to
}

// Eventually calls cond every 50ms until it reports true, for at most
// limit; then the test fails, naming what it waited for and the last state
// cond described.
func Eventually(t T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state:\n%s", limit, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
