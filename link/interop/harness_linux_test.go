package interop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/legacyd"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/wire"
)

// The sync link: namespace A (legacy daemon) holds .1, B (the peer built
// on ctsync's links and FT-FW session) .2, in IPv4 and IPv6.
const syncPort = 3794

var (
	addrA4  = netip.MustParseAddr("198.51.100.1")
	addrB4  = netip.MustParseAddr("198.51.100.2")
	addrA6  = netip.MustParseAddr("2001:db8:100::1")
	addrB6  = netip.MustParseAddr("2001:db8:100::2")
	mcastV4 = netip.MustParseAddr("225.0.0.50")
	// A link-local group: it never leaves the veth.
	mcastV6 = netip.MustParseAddr("ff02::1:50")
)

// requirePrivileged skips the test unless privileged tests were asked for
// and everything they need is there; under CI a missing prerequisite is a
// failure, so a broken runner does not pass silently.
func requirePrivileged(t *testing.T) {
	t.Helper()
	netnstest.RequirePrivileged(t)
	var missing []string
	for _, tool := range []string{"nft", "conntrack", legacyd.Command} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, "no "+tool+" in PATH")
		}
	}
	if len(missing) == 0 {
		return
	}
	why := strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatalf("%s=1 and CI is set, but the interop tests cannot run: %s", netnstest.EnvVar, why)
	}
	t.Skipf("skipping: %s", why)
}

// lab is the two namespaces joined by the sync veth. Everything crossing
// the veth in A is untracked: otherwise the sync link's own packets (and
// IGMP, MLD) become conntrack entries that the legacy daemon syncs in turn.
type lab struct {
	a, b     *netnstest.NetNS
	ifA, ifB string
	dir      string
	starts   int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{a: netnstest.NewNetNS(t), b: netnstest.NewNetNS(t), dir: t.TempDir()}
	p := netip.PrefixFrom
	l.ifA, l.ifB = netnstest.Veth(t, l.a, l.b,
		[]netip.Prefix{p(addrA4, 24), p(addrA6, 64)}, []netip.Prefix{p(addrB4, 24), p(addrB6, 64)})
	l.a.Exec(t, "ip", "route", "add", "224.0.0.0/4", "dev", l.ifA)
	l.b.Exec(t, "ip", "route", "add", "224.0.0.0/4", "dev", l.ifB)
	nft(t, l.a, `table inet raw {
	chain pre { type filter hook prerouting priority -300; iifname "`+l.ifA+`" notrack; }
	chain out { type filter hook output priority -300; oifname "`+l.ifA+`" notrack; }
}`)
	// The sysctl exists once nf_conntrack is loaded, which the notrack
	// rule guarantees.
	l.a.Exec(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_events=1")
	return l
}

func nft(t *testing.T, ns *netnstest.NetNS, rules string) {
	t.Helper()
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s\n%s", ns.Name, err, out, rules)
	}
}

// dropSync drops every sync datagram arriving in ns until the returned
// function is called: a burst of loss on the wire, invisible to the
// sender's socket.
func dropSync(t *testing.T, ns *netnstest.NetNS) (restore func()) {
	t.Helper()
	nft(t, ns, fmt.Sprintf(`table inet loss {
	chain pre { type filter hook prerouting priority -500; udp dport %d drop; }
}`, syncPort))
	return func() { ns.Exec(t, "nft", "delete", "table", "inet", "loss") }
}

// legacyConf describes the legacy daemon's Sync section; the peer uses
// the same mode and transport.
type legacyConf struct {
	mode      string // NOTRACK, ALARM or FTFW
	transport string // udp, mcast or tcp
	ipv6      bool   // the link runs over IPv6
	expect    bool   // ExpectationSync on
	// ALARM timers in seconds; 0 takes 2 and 60: CacheTimeout outlives
	// every test, so external entries only go away when a test says so.
	refresh, cacheTimeout int
}

func (c legacyConf) String() string {
	s := c.mode + "-" + c.transport
	if c.ipv6 {
		s += "6"
	}
	return s
}

func (c legacyConf) render(f legacyd.Files, iface string) string {
	var mode string
	switch c.mode {
	case "NOTRACK":
		mode = "Mode NOTRACK { }"
	case "ALARM":
		refresh, timeout := c.refresh, c.cacheTimeout
		if refresh == 0 {
			refresh, timeout = 2, 60
		}
		mode = fmt.Sprintf("Mode ALARM { RefreshTime %d CacheTimeout %d }", refresh, timeout)
	case "FTFW":
		mode = "Mode FTFW { ResendQueueSize 131072 ACKWindowSize 20 }"
	}
	fam, local, peer, group := "IPv4", addrA4, addrB4, mcastV4
	if c.ipv6 {
		fam, local, peer, group = "IPv6", addrA6, addrB6, mcastV6
	}
	var lnk string
	switch c.transport {
	case "udp", "tcp":
		lnk = fmt.Sprintf(`%s {
		%s_address %s
		%s_Destination_Address %s
		Port %d
		Interface %s
		Checksum on
	}`, strings.ToUpper(c.transport), fam, local, fam, peer, syncPort, iface)
	case "mcast":
		// The group first: conntrackd 1.4.7 resolves Interface with the
		// address seen so far (src/read_config_yy.y).
		ifaddr := ""
		if !c.ipv6 {
			ifaddr = "IPv4_interface " + local.String()
		}
		lnk = fmt.Sprintf(`Multicast {
		%s_address %s
		Group %d
		%s
		Interface %s
		Checksum on
	}`, fam, group, syncPort, ifaddr, iface)
	}
	options := ""
	if c.expect {
		options = "Options { ExpectationSync on }"
	}
	return fmt.Sprintf(`Sync {
	%s
	%s
	%s
}
`, mode, lnk, options) + legacyd.General(f, "\tNetlinkEventsReliable off\n")
}

// peerLink is the same link seen from B.
func (c legacyConf) peerLink(iface string) link.Settings {
	s := link.Settings{Name: "sync", Default: true, Interface: iface, Port: syncPort, Checksum: true,
		Local: addrB4, Peer: addrA4}
	if c.ipv6 {
		s.Local, s.Peer = addrB6, addrA6
	}
	switch c.transport {
	case "udp":
		s.Transport = link.UDP
	case "tcp":
		s.Transport = link.TCP
	case "mcast":
		s.Transport = link.Multicast
		s.Group, s.InterfaceAddress = mcastV4, addrB4
		if c.ipv6 {
			s.Group, s.InterfaceAddress = mcastV6, netip.Addr{}
		}
		s.Local, s.Peer = netip.Addr{}, netip.Addr{}
	}
	return s
}

// legacy is a conntrackd 1.4.7 running in the foreground in namespace A.
type legacy struct {
	*legacyd.Daemon
	ns *netnstest.NetNS
}

func (l *lab) startLegacy(t *testing.T, c legacyConf) *legacy {
	t.Helper()
	l.starts++
	f := legacyd.FilesIn(filepath.Join(l.dir, fmt.Sprintf("legacy%d", l.starts)))
	return &legacy{Daemon: legacyd.Start(t, l.a, l.a.Name, f, c.render(f, l.ifA)), ns: l.a}
}

// poll calls cond until it reports true or the deadline passes; then the
// test fails with the last state cond described.
func poll(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
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

// key identifies a replicated object as the legacy caches do: a flow by
// its original tuple, an expectation by its expected tuple.
type key struct {
	exp bool
	t   wire.Tuple
}

// object is one entry of the peer's internal cache, as the engine would
// hand it to ftfw.Session: its content and its life-cycle status.
type object struct {
	st    ftfw.Status
	isExp bool
	flow  wire.Flow
	exp   wire.Expect
}

func (o object) Status() ftfw.Status { return o.st }

func (o object) Put(m *wire.Message) wire.Type {
	if o.isExp {
		m.Exp = o.exp
		return wire.TypeExpNew
	}
	m.Flow = o.flow
	return wire.TypeCTNew
}

func (o object) key() key {
	if o.isExp {
		return key{exp: true, t: o.exp.Tuple}
	}
	return key{t: o.flow.Orig}
}

// peer is the test side of the sync link, in namespace B, built from
// ctsync's own parts: a link.Group opened from link.Settings, an
// ftfw.Session in FTFW mode, and link/wire for the bytes. It keeps an
// internal cache (what it announces, re-sent on a RESYNC request) and an
// external cache (what the legacy daemon told it, through Apply).
type peer struct {
	mode string
	g    *link.Group

	mu      sync.Mutex
	sess    *ftfw.Session[key, object] // FTFW
	seq     uint32                     // NOTRACK, ALARM
	plain   []wire.Message             // NOTRACK, ALARM transmit queue
	lastTx  time.Time
	cache   map[key]object
	refresh map[key]bool // ALARM: re-sent every second
	ext     map[key]wire.Message
	recvd   []wire.Message
	errs    []error
	sent    map[wire.Flags]int // control messages sent, by flag
	lastSeq uint32             // of the last data message sent
	buf     []byte
}

func (l *lab) startPeer(t *testing.T, c legacyConf) *peer {
	t.Helper()
	p := &peer{
		mode:    c.mode,
		cache:   map[key]object{},
		refresh: map[key]bool{},
		ext:     map[key]wire.Message{},
		sent:    map[wire.Flags]int{},
		seq:     uint32(time.Now().Unix()),
	}
	err := l.b.Do(func() error {
		var err error
		p.g, err = link.OpenGroup([]link.Settings{c.peerLink(l.ifB)}, nil)
		return err
	})
	if err != nil {
		t.Fatalf("peer link in %s: %v", l.b.Name, err)
	}
	if c.mode == "FTFW" {
		// A short alive interval only makes our ACKs come sooner; the
		// legacy daemon does not depend on it.
		p.sess = ftfw.New[key, object](ftfw.Config{AliveInterval: 200 * time.Millisecond}, p, time.Now())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.receive() }()
	go func() { defer wg.Done(); p.tick(stop) }()
	t.Cleanup(func() {
		close(stop)
		p.g.Close()
		wg.Wait()
	})
	return p
}

func (p *peer) receive() {
	buf := make([]byte, 1<<16)
	for {
		n, idx, err := p.g.Recv(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		p.mu.Lock()
		if err != nil {
			p.errs = append(p.errs, err)
		} else {
			p.datagram(buf[:n], idx)
			p.flushLocked(time.Now())
		}
		p.mu.Unlock()
	}
}

// datagram decodes and handles every message in b; like the legacy
// receiver it drops the rest of a datagram after a malformed message.
func (p *peer) datagram(b []byte, idx int) {
	for off := 0; off < len(b); {
		var m wire.Message
		n, err := wire.Decode(b[off:], &m)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("% x: %w", b[off:], err))
			return
		}
		off += n
		p.recvd = append(p.recvd, m)
		p.g.Valid(idx)
		switch p.mode {
		case "FTFW":
			p.sess.Receive(&m)
		case "NOTRACK":
			switch {
			case m.Type != wire.TypeControl:
				p.Apply(&m)
			case m.Flags&wire.FlagResync != 0:
				p.BulkSend()
			}
		case "ALARM":
			// src/sync-alarm.c: flags make a message control, never data.
			if m.Flags == 0 && m.Type != wire.TypeControl {
				p.Apply(&m)
			}
		}
	}
}

// Apply implements ftfw.Handler: the external cache.
func (p *peer) Apply(m *wire.Message) {
	var k key
	if m.Type.IsExp() {
		k = key{exp: true, t: m.Exp.Tuple}
	} else {
		k = key{t: m.Flow.Orig}
	}
	switch m.Type {
	case wire.TypeCTDelete, wire.TypeExpDelete:
		delete(p.ext, k)
	default:
		p.ext[k] = *m
	}
}

// BulkSend implements ftfw.Handler: the legacy daemon asked for
// everything (conntrackd -n).
func (p *peer) BulkSend() {
	for k, o := range p.cache {
		p.enqueueLocked(k, o)
	}
}

func (p *peer) tick(stop chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var nextRefresh time.Time
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			switch p.mode {
			case "FTFW":
				p.sess.Tick(now)
			case "NOTRACK":
				// As the legacy NOTRACK sender: ALIVE after an idle second.
				if now.Sub(p.lastTx) >= time.Second {
					p.plain = append(p.plain, wire.Message{Header: wire.Header{Type: wire.TypeControl, Flags: wire.FlagAlive}})
				}
			case "ALARM":
				if now.After(nextRefresh) {
					for k := range p.refresh {
						if o, ok := p.cache[k]; ok {
							p.enqueueLocked(k, o)
						}
					}
					nextRefresh = now.Add(time.Second)
				}
			}
			p.flushLocked(now)
			p.mu.Unlock()
		}
	}
}

func (p *peer) enqueueLocked(k key, o object) {
	if p.sess != nil {
		p.sess.Enqueue(k, o)
		return
	}
	var m wire.Message
	m.Type = o.Put(&m) + wire.Type(o.st)
	p.plain = append(p.plain, m)
}

// flushLocked sends what is queued, packed into datagrams as conntrackd
// packs them: a message is added only while the datagram stays strictly
// below the link's MaxDatagram.
func (p *peer) flushLocked(now time.Time) {
	var msgs []wire.Message
	if p.sess != nil {
		msgs = p.sess.Flush(now)
	} else {
		msgs = p.plain
		for i := range msgs {
			msgs[i].Seq = p.seq
			p.seq++
		}
		p.plain = p.plain[:0]
	}
	if len(msgs) == 0 {
		return
	}
	p.lastTx = now
	size := p.g.Links()[p.g.Active()].MaxDatagram()
	p.buf = p.buf[:0]
	start := 0
	for i := range msgs {
		m := &msgs[i]
		if m.Type == wire.TypeControl {
			p.sent[m.Flags&^(wire.FlagHello|wire.FlagHelloBack)]++
		} else {
			p.lastSeq = m.Seq
		}
		mark := len(p.buf)
		p.buf = wire.AppendMessage(p.buf, m)
		if len(p.buf)-start >= size && mark > start {
			p.g.Send(p.buf[start:mark])
			start = mark
		}
	}
	// A failed send is lost as on a real wire (TCP parks it and sends it
	// once reconnected); FTFW recovers it, the other modes do not.
	p.g.Send(p.buf[start:])
}

func flowObject(st ftfw.Status, f wire.Flow) object { return object{st: st, flow: f} }

// set announces objects (created or updated) and returns the sequence
// number of the last data message sent for them.
func (p *peer) set(objs ...object) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range objs {
		k := o.key()
		o.st = ftfw.StatusNew
		if _, ok := p.cache[k]; ok {
			o.st = ftfw.StatusAlive
		}
		p.cache[k] = o
		p.enqueueLocked(k, o)
	}
	p.flushLocked(time.Now())
	return p.lastSeq
}

// hold puts objects in the internal cache without announcing them: state
// the peer had before the link came up, sent only on a RESYNC request.
func (p *peer) hold(objs ...object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range objs {
		p.cache[o.key()] = o
	}
}

// del announces that an object was destroyed.
func (p *peer) del(o object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := o.key()
	delete(p.cache, k)
	delete(p.refresh, k)
	o.st = ftfw.StatusDead
	p.enqueueLocked(k, o)
	p.flushLocked(time.Now())
}

// keepRefreshing makes an ALARM peer re-send o every second.
func (p *peer) keepRefreshing(o object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refresh[o.key()] = true
}

// requestResync asks the legacy daemon for a bulk send.
func (p *peer) requestResync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess != nil {
		p.sess.RequestResync()
	} else {
		p.plain = append(p.plain, wire.Message{Header: wire.Header{Type: wire.TypeControl, Flags: wire.FlagResync}})
	}
	p.flushLocked(time.Now())
}

// snapshot returns copies of what the peer received so far.
func (p *peer) snapshot() ([]wire.Message, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wire.Message(nil), p.recvd...), append([]error(nil), p.errs...)
}

func (p *peer) external() map[key]wire.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[key]wire.Message, len(p.ext))
	for k, v := range p.ext {
		m[k] = v
	}
	return m
}

func (p *peer) stats() ftfw.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess.Stats()
}

func (p *peer) sentCount(f wire.Flags) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[f]
}

// handshakeDone reports whether both sides finished the FT-FW hello: the
// legacy daemon answered our HELLO, and its latest message no longer says
// HELLO, so it has our HELLO_BACK (the session sends it with its next
// message, as conntrackd does).
func (p *peer) handshakeDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.recvd)
	return p.sess.HelloDone() && n > 0 && p.recvd[n-1].Flags&wire.FlagHello == 0
}

func (p *peer) waitHandshake(t *testing.T) {
	t.Helper()
	poll(t, 5*time.Second, "the FTFW handshake in both directions", func() (bool, string) {
		return p.handshakeDone(), summary(p)
	})
}
