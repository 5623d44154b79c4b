package interop

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/link/wire"
)

// Kernel IPS_* status bits the tests look at; the others (CONFIRMED,
// NAT_DONE, ...) depend on how the kernel created the entry.
const (
	ipsSeenReply = 0x2
	ipsAssured   = 0x4
	ipsSrcNAT    = 0x10
	ipsDstNAT    = 0x20
	ipsNATDone   = 0x180
	statusMask   = ipsSeenReply | ipsAssured | ipsSrcNAT | ipsDstNAT
)

// flowView is what the tests compare of a flow: identity, state and NAT.
type flowView struct {
	Orig               wire.Tuple
	Status             uint32 // masked with statusMask
	TCPState           uint8
	Mark               uint32
	ICMPType, ICMPCode uint8
	ICMPID             uint16
	SNAT, DNAT         netip.Addr
	SNATPort, DNATPort uint16
}

func view(f *wire.Flow) flowView {
	v := flowView{Orig: f.Orig, Status: f.Status & statusMask}
	if f.Has(wire.AttrTCPState) {
		v.TCPState = f.TCPState
	}
	if f.Has(wire.AttrMark) {
		v.Mark = f.Mark
	}
	if f.Has(wire.AttrICMPType) {
		v.ICMPType, v.ICMPCode, v.ICMPID = f.ICMPType, f.ICMPCode, f.ICMPID
	}
	if f.Has(wire.AttrSNATIPv4) || f.Has(wire.AttrSNATIPv6) {
		v.SNAT = f.SNAT
	}
	if f.Has(wire.AttrDNATIPv4) || f.Has(wire.AttrDNATIPv6) {
		v.DNAT = f.DNAT
	}
	if f.Has(wire.AttrSPATPort) {
		v.SNATPort = f.SNATPort
	}
	if f.Has(wire.AttrDPATPort) {
		v.DNATPort = f.DNATPort
	}
	return v
}

var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

func tuple(src, dst string, sport, dport uint16, proto uint8) wire.Tuple {
	return wire.Tuple{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport, Proto: proto}
}

const (
	tcpEstablished = 3
	protoICMP      = 1
	protoTCP       = 6
	protoUDP       = 17
)

// kernelEntries are created with conntrack -I in A and must reach the peer.
var kernelEntries = []struct {
	name string
	args string
	want flowView
}{
	{
		name: "tcp established with mark",
		args: "-p tcp -s 198.18.0.10 -d 198.18.0.20 --sport 1234 --dport 80 --state ESTABLISHED -t 120 -u SEEN_REPLY,ASSURED -m 7",
		want: flowView{Orig: tuple("198.18.0.10", "198.18.0.20", 1234, 80, protoTCP), Status: ipsSeenReply | ipsAssured, TCPState: tcpEstablished, Mark: 7},
	},
	{
		name: "udp",
		args: "-p udp -s 198.18.0.30 -d 198.18.0.31 --sport 5353 --dport 53 -t 120",
		want: flowView{Orig: tuple("198.18.0.30", "198.18.0.31", 5353, 53, protoUDP)},
	},
	{
		name: "icmp echo",
		args: "-p icmp -s 198.18.0.40 -d 198.18.0.41 --icmp-type 8 --icmp-code 0 --icmp-id 4660 -t 120",
		want: flowView{Orig: tuple("198.18.0.40", "198.18.0.41", 0, 0, protoICMP), ICMPType: 8, ICMPID: 0x1234},
	},
	{
		name: "ipv6 tcp",
		args: "-p tcp -s 2001:db8::10 -d 2001:db8::20 --sport 40000 --dport 443 --state ESTABLISHED -t 120 -u SEEN_REPLY,ASSURED",
		want: flowView{Orig: tuple("2001:db8::10", "2001:db8::20", 40000, 443, protoTCP), Status: ipsSeenReply | ipsAssured, TCPState: tcpEstablished},
	},
	{
		name: "tcp dnat with port",
		args: "-p tcp -s 198.18.0.70 -d 198.18.0.71 --sport 3333 --dport 80 --state ESTABLISHED -t 120 -u SEEN_REPLY,ASSURED --dst-nat 203.0.113.7:8080",
		want: flowView{
			Orig:   tuple("198.18.0.70", "198.18.0.71", 3333, 80, protoTCP),
			Status: ipsSeenReply | ipsAssured | ipsDstNAT, TCPState: tcpEstablished,
			DNAT: netip.MustParseAddr("203.0.113.7"), DNATPort: 8080,
		},
	},
	{
		name: "udp snat with port",
		args: "-p udp -s 198.18.0.72 -d 198.18.0.73 --sport 4444 --dport 53 -t 120 --src-nat 203.0.113.8:40000",
		want: flowView{
			Orig:   tuple("198.18.0.72", "198.18.0.73", 4444, 53, protoUDP),
			Status: ipsSrcNAT,
			SNAT:   netip.MustParseAddr("203.0.113.8"), SNATPort: 40000,
		},
	},
}

var interopCases = []legacyConf{
	{mode: "NOTRACK", transport: "udp"},
	{mode: "ALARM", transport: "udp"},
	{mode: "FTFW", transport: "udp"},
	{mode: "NOTRACK", transport: "mcast"},
	{mode: "ALARM", transport: "mcast"},
	{mode: "FTFW", transport: "mcast"},
	{mode: "NOTRACK", transport: "tcp"},
	{mode: "ALARM", transport: "tcp"},
	{mode: "FTFW", transport: "tcp"},
	{mode: "FTFW", transport: "udp", ipv6: true},
	{mode: "FTFW", transport: "mcast", ipv6: true},
	{mode: "NOTRACK", transport: "tcp", ipv6: true},
}

// TestIntegrationInterop runs the legacy daemon and the peer over one
// link per case, in both directions: flows created in the legacy daemon's
// kernel table reach the peer with their identity, state and NAT; flows
// the peer announces enter the legacy external cache, a DELETE removes
// one, and a commit writes the rest into the kernel.
func TestIntegrationInterop(t *testing.T) {
	requirePrivileged(t)
	for _, c := range interopCases {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			p := l.startPeer(t, c)
			d := l.startLegacy(t, c)
			if c.mode == "FTFW" {
				p.waitHandshake(t)
			}
			t.Run("legacy-to-peer", func(t *testing.T) { testLegacyToPeer(t, c, l, p, d) })
			t.Run("peer-to-legacy", func(t *testing.T) { testPeerToLegacy(t, c, l, p, d) })
		})
	}
}

func testLegacyToPeer(t *testing.T, c legacyConf, l *lab, p *peer, d *legacy) {
	start := len(mustSnapshot(p))
	want := map[wire.Tuple]flowView{}
	for _, e := range kernelEntries {
		l.a.Exec(t, "conntrack", append([]string{"-I"}, strings.Fields(e.args)...)...)
		want[e.want.Orig] = e.want
	}
	got := map[wire.Tuple]flowView{}
	poll(t, 8*time.Second, "every inserted flow on the sync link", func() (bool, string) {
		msgs, _ := p.snapshot()
		for _, m := range msgs[start:] {
			if m.Type == wire.TypeCTNew || m.Type == wire.TypeCTUpdate {
				got[m.Flow.Orig] = view(&m.Flow)
			}
		}
		return len(got) >= len(want), summary(p)
	})
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("flows decoded by the peer (-want +got):\n%s", diff)
	}

	if c.mode == "ALARM" {
		// ALARM re-sends every flow about every RefreshTime (2 s here)
		// whether or not it changed.
		poll(t, 6*time.Second, "ALARM to re-send every flow", func() (bool, string) {
			seen := map[wire.Tuple]int{}
			msgs, _ := p.snapshot()
			for _, m := range msgs[start:] {
				if m.Type == wire.TypeCTNew || m.Type == wire.TypeCTUpdate {
					seen[m.Flow.Orig]++
				}
			}
			for k := range want {
				if seen[k] < 2 {
					return false, fmt.Sprintf("sent once only: %+v\n%s", k, summary(p))
				}
			}
			return true, ""
		})
	}

	// A kernel DESTROY becomes a CT DELETE for that original tuple.
	gone := kernelEntries[0].want.Orig
	l.a.Exec(t, "conntrack", "-D", "-p", "tcp", "-s", gone.Src.String(), "-d", gone.Dst.String(),
		"--sport", fmt.Sprint(gone.SrcPort), "--dport", fmt.Sprint(gone.DstPort))
	poll(t, 8*time.Second, "a CT DELETE for "+gone.Src.String(), func() (bool, string) {
		msgs, _ := p.snapshot()
		for _, m := range msgs[start:] {
			if m.Type == wire.TypeCTDelete && m.Flow.Orig == gone {
				return true, ""
			}
		}
		return false, summary(p)
	})
	// What the peer holds now is exactly A's kernel table.
	checkMirrors(t, l, p)

	msgs, errs := p.snapshot()
	for _, err := range errs {
		t.Errorf("peer could not decode a message from conntrackd: %v", err)
	}
	for _, m := range msgs[start:] {
		if m.Type.IsCT() {
			if _, ok := want[m.Flow.Orig]; !ok {
				t.Errorf("unexpected flow on the sync link: %s %+v", m.Type, m.Flow.Orig)
			}
		}
		if c.mode == "FTFW" && m.Flags&wire.FlagHello != 0 {
			t.Errorf("conntrackd still sends HELLO after our HELLO_BACK: %s seq %d flags %#x", m.Type, m.Seq, m.Flags)
		}
		if c.mode != "FTFW" && m.Flags&(wire.FlagHello|wire.FlagHelloBack|wire.FlagAck|wire.FlagNack) != 0 {
			t.Errorf("%s sent FTFW flags %#x", c.mode, m.Flags)
		}
	}
	if c.mode == "FTFW" {
		checkFTFW(t, p, d)
	}
	checkLegacyStats(t, d, false)
}

// checkMirrors fails the test unless the flows in the peer's external
// cache are exactly those of A's kernel table (conntrack -L), by original
// tuple.
func checkMirrors(t *testing.T, l *lab, p *peer) {
	t.Helper()
	var diff string
	poll(t, 8*time.Second, "the peer's external cache to mirror A's kernel table", func() (bool, string) {
		kernel := kernelTuples(t, l)
		got := map[wire.Tuple]bool{}
		for k := range p.external() {
			if !k.exp {
				got[k.t] = true
			}
		}
		diff = cmp.Diff(kernel, got, cmpAddr)
		return diff == "", fmt.Sprintf("flows (-conntrack -L on A +peer's external cache):\n%s", diff)
	})
}

// kernelTuples returns the original tuples of A's kernel table.
func kernelTuples(t *testing.T, l *lab) map[wire.Tuple]bool {
	t.Helper()
	tuples, err := parseTuples(l.a.Exec(t, "conntrack", "-L"))
	if err != nil {
		t.Fatal(err)
	}
	return tuples
}

// parseTuples parses the original tuples out of flows in conntrack's
// plain format (conntrack -L, conntrackd -e ct).
func parseTuples(out string) (map[wire.Tuple]bool, error) {
	tuples := map[wire.Tuple]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(line, "src=") {
			continue
		}
		var tu wire.Tuple
		proto, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("flow line %q: %w", line, err)
		}
		tu.Proto = uint8(proto)
		seen := map[string]bool{}
		for _, kv := range f[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || seen[k] {
				continue // the reply tuple repeats the names
			}
			seen[k] = true
			var n int
			switch k {
			case "src":
				tu.Src, err = netip.ParseAddr(v)
			case "dst":
				tu.Dst, err = netip.ParseAddr(v)
			case "sport":
				n, err = strconv.Atoi(v)
				tu.SrcPort = uint16(n)
			case "dport":
				n, err = strconv.Atoi(v)
				tu.DstPort = uint16(n)
			}
			if err != nil {
				return nil, fmt.Errorf("flow line %q: %w", line, err)
			}
		}
		tuples[tu] = true
	}
	return tuples, nil
}

// checkFTFW fails the test unless the legacy daemon's resend queue drains
// (our ACKs release its data and its own ACKs) and it never NACKed us (our
// numbering had no gap).
func checkFTFW(t *testing.T, p *peer, d *legacy) {
	t.Helper()
	poll(t, 5*time.Second, "an empty legacy resend queue", func() (bool, string) {
		out, err := d.Ctl("-s", "rsqueue")
		return err == nil && rsqueueEmpty(out), out
	})
	for _, m := range mustSnapshot(p) {
		if m.Type == wire.TypeControl && m.Flags&wire.FlagNack != 0 {
			t.Errorf("conntrackd sent NACK [%d,%d] (seq %d)", m.From, m.To, m.Seq)
		}
	}
}

// rsqueueLen matches the "-s rsqueue" summary line, e.g.
// "resent queue (len=0)".
var rsqueueLen = regexp.MustCompile(`len=(\d+)`)

func rsqueueEmpty(out string) bool {
	m := rsqueueLen.FindStringSubmatch(out)
	return m != nil && m[1] == "0"
}

// checkLegacyStats fails the test if conntrackd counted malformed or
// lost messages (unless lossExpected), receive or send errors, or failed
// cache operations.
func checkLegacyStats(t *testing.T, d *legacy, lossExpected bool) {
	t.Helper()
	stats := d.MustCtl(t, "-s")
	network := d.MustCtl(t, "-s", "network")
	found := 0
	for _, re := range errorCounters {
		for _, m := range re.FindAllStringSubmatch(stats+network, -1) {
			found++
			if lossExpected && lostCounter.MatchString(m[0]) {
				continue
			}
			if m[1] != "0" {
				t.Errorf("conntrackd counts %s", strings.Join(strings.Fields(m[0]), " "))
			}
		}
	}
	// Guard against a changed layout making the checks vacuous.
	if found < 15 {
		t.Errorf("found only %d error counters in conntrackd -s / -s network:\n%s\n%s", found, stats, network)
	}
}

// errorCounters match the error counters of "conntrackd -s" and
// "conntrackd -s network" (1.4.7 layout); group 1 is the value.
var errorCounters = []*regexp.Regexp{
	regexp.MustCompile(`(?m)(?:Malformed messages|Wrong protocol version|Malformed header|Malformed payload|Bad message type|Truncated message|Bad message size|Packets lost|Packets before):\s+(\d+)`),
	regexp.MustCompile(`(\d+) (?:Malformed msgs|Lost msgs|Error send|Error recv)`),
	regexp.MustCompile(`failed:\s+(\d+)`),
}

var lostCounter = regexp.MustCompile(`Packets lost|Lost msgs`)

// legacyLost is conntrackd's "Lost msgs" counter.
func legacyLost(t *testing.T, d *legacy) int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) Lost msgs`).FindStringSubmatch(d.MustCtl(t, "-s"))
	if m == nil {
		t.Fatal("no Lost msgs counter in conntrackd -s")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// peerFlow is a flow the peer announces, and how the legacy tools show it.
// conntrackd -e prints only the original tuple; conntrack -L adds the
// reply tuple, which the kernel derives from the NAT attributes.
type peerFlow struct {
	name   string
	flow   wire.Flow
	listed string // original tuple, as in conntrackd -e and conntrack -L
	reply  string // reply tuple, following listed in conntrack -L
}

func peerFlows() []peerFlow {
	mk := func(orig wire.Tuple, status uint32, fn func(*wire.Flow)) wire.Flow {
		f := wire.Flow{Orig: orig, Status: status, Timeout: 120}
		if orig.Src.Is4() {
			f.Set(wire.AttrIPv4)
		} else {
			f.Set(wire.AttrIPv6)
		}
		f.Set(wire.AttrL4Proto)
		f.Set(wire.AttrStatus)
		f.Set(wire.AttrTimeout)
		if orig.Proto == protoTCP || orig.Proto == protoUDP {
			f.Set(wire.AttrPort)
		}
		if orig.Proto == protoTCP {
			f.TCPState = tcpEstablished
			f.Set(wire.AttrTCPState)
		}
		if fn != nil {
			fn(&f)
		}
		return f
	}
	const est = ipsSeenReply | ipsAssured
	return []peerFlow{
		{
			name: "tcp established with mark",
			flow: mk(tuple("198.18.1.10", "198.18.1.20", 1234, 80, protoTCP), est, func(f *wire.Flow) {
				f.Mark = 7
				f.Set(wire.AttrMark)
			}),
			listed: "src=198.18.1.10 dst=198.18.1.20 sport=1234 dport=80",
			reply:  "src=198.18.1.20 dst=198.18.1.10 sport=80 dport=1234",
		},
		{
			name:   "udp",
			flow:   mk(tuple("198.18.1.30", "198.18.1.31", 5353, 53, protoUDP), 0, nil),
			listed: "src=198.18.1.30 dst=198.18.1.31 sport=5353 dport=53",
			reply:  "src=198.18.1.31 dst=198.18.1.30 sport=53 dport=5353",
		},
		{
			name: "icmp echo",
			flow: mk(tuple("198.18.1.40", "198.18.1.41", 0, 0, protoICMP), 0, func(f *wire.Flow) {
				f.ICMPType, f.ICMPCode, f.ICMPID = 8, 0, 0x1234
				f.Set(wire.AttrICMPType)
				f.Set(wire.AttrICMPCode)
				f.Set(wire.AttrICMPID)
			}),
			listed: "src=198.18.1.40 dst=198.18.1.41 type=8 code=0 id=4660",
			reply:  "src=198.18.1.41 dst=198.18.1.40 type=0 code=0 id=4660",
		},
		{
			name:   "ipv6 tcp",
			flow:   mk(tuple("2001:db8:1::10", "2001:db8:1::20", 40000, 443, protoTCP), est, nil),
			listed: "src=2001:db8:1::10 dst=2001:db8:1::20 sport=40000 dport=443",
			reply:  "src=2001:db8:1::20 dst=2001:db8:1::10 sport=443 dport=40000",
		},
		{
			name: "tcp dnat with port",
			flow: mk(tuple("198.18.1.70", "198.18.1.71", 3333, 80, protoTCP), est|ipsDstNAT|ipsNATDone, func(f *wire.Flow) {
				f.DNAT, f.DNATPort = netip.MustParseAddr("203.0.113.7"), 8080
				f.Set(wire.AttrDNATIPv4)
				f.Set(wire.AttrDPATPort)
			}),
			listed: "src=198.18.1.70 dst=198.18.1.71 sport=3333 dport=80",
			reply:  "src=203.0.113.7 dst=198.18.1.70 sport=8080 dport=3333",
		},
	}
}

func testPeerToLegacy(t *testing.T, c legacyConf, l *lab, p *peer, d *legacy) {
	flows := peerFlows()
	var objs []object
	for _, f := range flows {
		objs = append(objs, flowObject(0, f.flow))
	}
	last := p.set(objs...)

	external := func() string { out, _ := d.Ctl("-e", "ct"); return out }
	poll(t, 5*time.Second, "every announced flow in the external cache", func() (bool, string) {
		out := external()
		missing := listedAll(out, flows)
		return len(missing) == 0, fmt.Sprintf("missing %v in conntrackd -e ct:\n%s", missing, out)
	})
	if out := external(); !strings.Contains(out, "mark=7") {
		t.Errorf("conntrackd -e ct lost the mark of the first flow:\n%s", out)
	}
	if c.mode == "FTFW" {
		poll(t, 5*time.Second, "conntrackd to acknowledge our data", func() (bool, string) {
			return p.acked(last), summary(p)
		})
	}

	// DELETE the UDP flow.
	del := flows[1]
	p.del(flowObject(0, del.flow))
	rest := append(append([]peerFlow{}, flows[:1]...), flows[2:]...)
	poll(t, 5*time.Second, "the deleted flow to leave the external cache", func() (bool, string) {
		out := external()
		return !strings.Contains(out, del.listed) && len(listedAll(out, rest)) == 0, out
	})
	if c.mode == "FTFW" {
		checkFTFW(t, p, d)
		if s := p.stats(); s.Retransmitted != 0 || s.Lost != 0 {
			t.Errorf("FT-FW session saw loss on a clean link: %+v", s)
		}
	}
	checkLegacyStats(t, d, false)

	// Commit writes the external cache into A's kernel table.
	d.MustCtl(t, "-c", "ct")
	var table string
	poll(t, 5*time.Second, "committed flows in the kernel table", func() (bool, string) {
		table, _ = d.run("conntrack", "-L") // IPv4 and IPv6
		var missing []string
		for _, f := range rest {
			if !kernelHas(table, f) {
				missing = append(missing, f.name)
			}
		}
		return len(missing) == 0, fmt.Sprintf("missing %v in conntrack -L:\n%s", missing, table)
	})
	if kernelHas(table, del) {
		t.Errorf("the deleted flow was committed:\n%s", table)
	}
}

// listedAll returns the names of the flows out (conntrackd -e) lacks.
func listedAll(out string, fs []peerFlow) []string {
	var missing []string
	for _, f := range fs {
		if !strings.Contains(out, f.listed) {
			missing = append(missing, f.name)
		}
	}
	return missing
}

// kernelHas reports whether a conntrack -L line shows f's original and
// reply tuples (flags such as [UNREPLIED] may sit between them).
func kernelHas(table string, f peerFlow) bool {
	for _, line := range strings.Split(table, "\n") {
		if i := strings.Index(line, f.listed); i >= 0 && strings.Contains(line[i:], f.reply) {
			return true
		}
	}
	return false
}

// acked reports whether an ACK from conntrackd covered seq.
func (p *peer) acked(seq uint32) bool {
	msgs, _ := p.snapshot()
	for _, m := range msgs {
		if m.Type == wire.TypeControl && m.Flags&wire.FlagAck != 0 &&
			int32(seq-m.From) >= 0 && int32(m.To-seq) >= 0 {
			return true
		}
	}
	return false
}

// run runs a command in the daemon's namespace, returning its output.
func (d *legacy) run(name string, args ...string) (string, error) {
	out, err := d.ns.Command(name, args...).CombinedOutput()
	return string(out), err
}

func mustSnapshot(p *peer) []wire.Message {
	msgs, _ := p.snapshot()
	return msgs
}

// summary describes what the peer received, for timeout messages.
func summary(p *peer) string {
	msgs, errs := p.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages, %d decode errors\n", len(msgs), len(errs))
	from := max(0, len(msgs)-30)
	for _, m := range msgs[from:] {
		fmt.Fprintf(&b, "  %s flags=%#x seq=%d", m.Type, m.Flags, m.Seq)
		if m.Type.IsCT() {
			fmt.Fprintf(&b, " %+v", view(&m.Flow))
		}
		if m.Ranged() {
			fmt.Fprintf(&b, " [%d,%d]", m.From, m.To)
		}
		b.WriteByte('\n')
	}
	for _, err := range errs {
		fmt.Fprintf(&b, "  error: %v\n", err)
	}
	return b.String()
}
