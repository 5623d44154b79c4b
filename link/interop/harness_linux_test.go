package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/link/wire"
)

// The sync link: namespace A (legacy daemon) holds .1, B (test peer) .2.
// Both ends of the veth are called syncIf.
const (
	addrA    = "198.51.100.1"
	addrB    = "198.51.100.2"
	mcastGrp = "225.0.0.50"
	syncPort = 3780
	syncIf   = "sync0"
)

// requirePrivileged skips the test unless privileged tests were asked for
// and everything they need is there; under CI a missing prerequisite is a
// failure, so a broken runner does not pass silently.
func requirePrivileged(t *testing.T) {
	t.Helper()
	if os.Getenv("CTSYNC_PRIVILEGED_TESTS") != "1" {
		t.Skip("skipping: set CTSYNC_PRIVILEGED_TESTS=1 and run as root (CTSYNC_PRIVILEGED_TESTS is not 1)")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("running as uid %d", os.Geteuid()))
	}
	for _, tool := range []string{"ip", "nft", "conntrack", "conntrackd"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, "no "+tool+" in PATH")
		}
	}
	if len(missing) == 0 {
		return
	}
	why := strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatalf("CTSYNC_PRIVILEGED_TESTS=1 and CI is set, but the interop tests cannot run: %s", why)
	}
	t.Skipf("skipping: set CTSYNC_PRIVILEGED_TESTS=1 and run as root (%s)", why)
}

// netns is a named network namespace, deleted when the test ends.
type netns struct {
	name string
	fd   int
}

var nsSeq atomic.Uint32

func newNetns(t *testing.T, tag string) *netns {
	t.Helper()
	name := fmt.Sprintf("ctsi-%s-%d-%d", tag, os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &netns{name: name, fd: fd}
}

// do runs fn on an OS thread switched into ns; sockets opened by fn stay
// in ns.
func (ns *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Left locked: the runtime discards the thread.
			errc <- fmt.Errorf("setns back from %s: %w", ns.name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func (ns *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// run runs a command in ns and returns its combined output.
func (ns *netns) run(name string, args ...string) (string, error) {
	out, err := ns.command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.name, err, out)
	}
	return string(out), nil
}

func (ns *netns) must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := ns.run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lab is the two namespaces joined by the sync veth. Everything crossing
// the veth in A is untracked: otherwise the sync link's own packets (and
// IGMP) become conntrack entries that the legacy daemon syncs in turn.
type lab struct {
	a, b *netns
	dir  string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{a: newNetns(t, "a"), b: newNetns(t, "b"), dir: t.TempDir()}
	if out, err := exec.Command("ip", "link", "add", syncIf, "netns", l.a.name, "type", "veth",
		"peer", "name", syncIf, "netns", l.b.name).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	for _, side := range []struct {
		ns   *netns
		addr string
	}{{l.a, addrA}, {l.b, addrB}} {
		ns := side.ns
		// IPv6 off on the link: no link-local or MLD noise; the synthetic
		// IPv6 conntrack entries do not need it.
		ns.must(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		ns.must(t, "ip", "link", "set", "lo", "up")
		ns.must(t, "ip", "addr", "add", side.addr+"/24", "dev", syncIf)
		ns.must(t, "ip", "link", "set", syncIf, "up")
		ns.must(t, "ip", "route", "add", "224.0.0.0/4", "dev", syncIf)
	}
	nft := exec.Command("ip", "netns", "exec", l.a.name, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet raw {
	chain pre { type filter hook prerouting priority -300; iifname "` + syncIf + `" notrack; }
	chain out { type filter hook output priority -300; oifname "` + syncIf + `" notrack; }
}
`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft notrack rules in %s: %v: %s", l.a.name, err, out)
	}
	// The sysctl exists once nf_conntrack is loaded, which nft's notrack
	// rule guarantees.
	l.a.must(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_events=1")
	return l
}

// legacyConf describes the legacy daemon's Sync section.
type legacyConf struct {
	mode      string // NOTRACK, ALARM or FTFW
	transport string // udp, mcast or tcp
}

func (c legacyConf) render(dir string) string {
	var mode string
	switch c.mode {
	case "NOTRACK":
		mode = "Mode NOTRACK { }"
	case "ALARM":
		// CacheTimeout outlives every test, so external entries only go
		// away when the test says so.
		mode = "Mode ALARM { RefreshTime 2 CacheTimeout 60 }"
	case "FTFW":
		mode = "Mode FTFW { ResendQueueSize 131072 ACKWindowSize 20 }"
	}
	var link string
	switch c.transport {
	case "udp", "tcp":
		link = fmt.Sprintf(`%s {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port %d
		Interface %s
		Checksum on
	}`, strings.ToUpper(c.transport), addrA, addrB, syncPort, syncIf)
	case "mcast":
		link = fmt.Sprintf(`Multicast {
		IPv4_address %s
		Group %d
		IPv4_interface %s
		Interface %s
		Checksum on
	}`, mcastGrp, syncPort, addrA, syncIf)
	}
	return fmt.Sprintf(`Sync {
	%s
	%s
}
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile %s
	Syslog off
	LockFile %s
	UNIX { Path %s }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	NetlinkEventsReliable off
}
`, mode, link, filepath.Join(dir, "conntrackd.log"), filepath.Join(dir, "lock"), filepath.Join(dir, "ctl.sock"))
}

// legacy is a conntrackd 1.4.7 running in the foreground in namespace A.
type legacy struct {
	ns   *netns
	conf string
	log  string
	out  lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (l *lab) startLegacy(t *testing.T, c legacyConf) *legacy {
	t.Helper()
	dir := filepath.Join(l.dir, "legacy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conntrackd.conf")
	if err := os.WriteFile(conf, []byte(c.render(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &legacy{ns: l.a, conf: conf, log: filepath.Join(dir, "conntrackd.log"), done: make(chan struct{})}
	// No -d: the daemon stays in the foreground ("console mode"), so
	// this process is the daemon and can be killed by its id.
	cmd := l.a.command("conntrackd", "-C", conf)
	cmd.Stdout, cmd.Stderr = &d.out, &d.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start conntrackd: %v", err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.ctl("-k")
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
			t.Logf("conntrackd -k did not stop pid %d; killing it", cmd.Process.Pid)
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("conntrackd output:\n%s", d.out.String())
		}
	})
	// Ready once the control socket answers.
	poll(t, 5*time.Second, "conntrackd to answer on its control socket", func() (bool, string) {
		select {
		case <-d.done:
			t.Fatalf("conntrackd exited at start-up:\n%s", d.out.String())
		default:
		}
		out, err := d.ctl("-s")
		return err == nil, out
	})
	return d
}

// ctl runs a conntrackd client command against the daemon.
func (d *legacy) ctl(args ...string) (string, error) {
	return d.ns.run("conntrackd", append([]string{"-C", d.conf}, args...)...)
}

func (d *legacy) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.ctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// peer is the test side of the sync link, in namespace B. It records every
// message it decodes and, in FTFW mode, answers the legacy daemon's HELLO
// and acknowledges what it received, which is all a legacy FTFW sender
// needs from its peer.
type peer struct {
	mode string
	out  func([]byte) error

	mu        sync.Mutex
	msgs      []wire.Message
	errs      []error
	seq       uint32
	helloDone bool   // a HELLO_BACK arrived
	helloBack bool   // owe the legacy daemon a HELLO_BACK
	ackFrom   uint32 // first unacknowledged received sequence number
	ackTo     uint32
	pending   bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

func (l *lab) startPeer(t *testing.T, c legacyConf) *peer {
	t.Helper()
	p := &peer{mode: c.mode, seq: uint32(time.Now().Unix()) - 1000, stop: make(chan struct{})}
	closers := &closerSet{}
	t.Cleanup(func() {
		close(p.stop)
		closers.closeAll()
		p.wg.Wait()
	})
	legacyAddr := &net.UDPAddr{IP: net.ParseIP(addrA), Port: syncPort}
	err := l.b.do(func() error {
		switch c.transport {
		case "udp":
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addrB), Port: syncPort})
			if err != nil {
				return err
			}
			closers.add(conn)
			p.out = func(b []byte) error { _, err := conn.WriteToUDP(b, legacyAddr); return err }
			p.wg.Add(1)
			go p.readDatagrams(conn, nil)
		case "mcast":
			ifi, err := net.InterfaceByName(syncIf)
			if err != nil {
				return err
			}
			group := &net.UDPAddr{IP: net.ParseIP(mcastGrp), Port: syncPort}
			in, err := net.ListenMulticastUDP("udp4", ifi, group)
			if err != nil {
				return err
			}
			closers.add(in)
			out, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addrB)}, group)
			if err != nil {
				return err
			}
			closers.add(out)
			p.out = func(b []byte) error { _, err := out.Write(b); return err }
			p.wg.Add(1)
			// Our own datagrams loop back to the group socket: skip them.
			go p.readDatagrams(in, net.ParseIP(addrB))
		case "tcp":
			// The legacy daemon sends only on the connection it opens and
			// reads only from the one it accepts.
			ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(addrB), Port: syncPort})
			if err != nil {
				return err
			}
			closers.add(ln)
			p.wg.Add(1)
			go p.accept(ln, closers)
			var mu sync.Mutex
			var conn net.Conn
			dialer := net.Dialer{Timeout: time.Second}
			dial := func() (net.Conn, error) {
				var c net.Conn
				err := l.b.do(func() error {
					var err error
					c, err = dialer.Dial("tcp4", net.JoinHostPort(addrA, fmt.Sprint(syncPort)))
					return err
				})
				return c, err
			}
			p.out = func(b []byte) error {
				mu.Lock()
				defer mu.Unlock()
				if conn == nil {
					c, err := dial()
					if err != nil {
						return err
					}
					conn = c
					closers.add(c)
				}
				_, err := conn.Write(b)
				return err
			}
		default:
			return fmt.Errorf("unknown transport %q", c.transport)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("test peer in %s: %v", l.b.name, err)
	}
	if p.mode == "FTFW" {
		p.wg.Add(1)
		go p.ackLoop()
	}
	return p
}

func (p *peer) readDatagrams(conn *net.UDPConn, self net.IP) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if self != nil && from.IP.Equal(self) {
			continue
		}
		p.datagram(buf[:n])
	}
}

func (p *peer) accept(ln *net.TCPListener, closers *closerSet) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		closers.add(c)
		p.wg.Add(1)
		go p.readStream(c)
	}
}

// readStream cuts the unframed TCP stream at the header lengths, keeping
// a partial message for the next read.
func (p *peer) readStream(c net.Conn) {
	defer p.wg.Done()
	var pend []byte
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		pend = append(pend, buf[:n]...)
		used := p.decodeAll(pend, true)
		pend = append(pend[:0], pend[used:]...)
		p.answer()
	}
}

func (p *peer) datagram(b []byte) {
	p.decodeAll(b, false)
	p.answer()
}

// decodeAll decodes the messages in b and returns how many bytes it used.
func (p *peer) decodeAll(b []byte, stream bool) int {
	off := 0
	for off < len(b) {
		var m wire.Message
		n, err := wire.Decode(b[off:], &m)
		if err != nil {
			if stream && errors.Is(err, wire.ErrShort) {
				return off
			}
			p.mu.Lock()
			p.errs = append(p.errs, fmt.Errorf("% x: %w", b[off:], err))
			p.mu.Unlock()
			return len(b)
		}
		p.receive(&m)
		off += n
	}
	return off
}

func (p *peer) receive(m *wire.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, *m)
	if p.mode != "FTFW" {
		return
	}
	if m.Flags&wire.FlagHelloBack != 0 {
		p.helloDone = true
	}
	if m.Flags&wire.FlagHello != 0 {
		// The sender restarted its numbering: acknowledge from here on.
		p.helloBack = true
		p.pending = false
	}
	if !p.pending {
		p.ackFrom, p.pending = m.Seq, true
	}
	p.ackTo = m.Seq
}

// answer sends a HELLO_BACK at once when one is owed; acknowledgements
// go out from ackLoop.
func (p *peer) answer() {
	p.mu.Lock()
	owe := p.helloBack
	p.mu.Unlock()
	if owe {
		p.sendAck()
	}
}

func (p *peer) ackLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.sendAck()
		}
	}
}

// sendAck sends ACK [ackFrom, ackTo] if anything is pending, else an ALIVE
// while the handshake is incomplete (it carries our HELLO).
func (p *peer) sendAck() {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := wire.Message{Header: wire.Header{Type: wire.TypeControl}}
	switch {
	case p.pending:
		m.Flags, m.From, m.To = wire.FlagAck, p.ackFrom, p.ackTo
	case !p.helloDone || p.helloBack:
		m.Flags = wire.FlagAlive
	default:
		return
	}
	// A control message that could not be sent is retried on the next
	// tick.
	if _, err := p.transmitLocked(m); err == nil {
		p.pending = false
	}
}

// transmitLocked numbers msgs, adds the FTFW hello flags and sends them in
// one datagram (or stream write). It holds p.mu while sending, so numbers
// reach the wire in order (the legacy receiver drops a number lower than
// one it has seen); a failed send gives its numbers back, so it leaves no
// gap either.
func (p *peer) transmitLocked(msgs ...wire.Message) ([]uint32, error) {
	seq, helloBack := p.seq, p.helloBack
	var b []byte
	var seqs []uint32
	for i := range msgs {
		m := &msgs[i]
		p.seq++
		m.Seq = p.seq
		if p.mode == "FTFW" {
			if !p.helloDone {
				m.Flags |= wire.FlagHello
			}
			if p.helloBack {
				m.Flags |= wire.FlagHelloBack
				p.helloBack = false
			}
		}
		b = wire.AppendMessage(b, m)
		seqs = append(seqs, m.Seq)
	}
	if err := p.out(b); err != nil {
		p.seq, p.helloBack = seq, helloBack
		return nil, err
	}
	return seqs, nil
}

// trySend sends msgs and returns their sequence numbers.
func (p *peer) trySend(msgs ...wire.Message) ([]uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.transmitLocked(msgs...)
}

// send is trySend for a link that must be up.
func (p *peer) send(t *testing.T, msgs ...wire.Message) []uint32 {
	t.Helper()
	seqs, err := p.trySend(msgs...)
	if err != nil {
		t.Fatalf("test peer send: %v", err)
	}
	return seqs
}

// snapshot returns copies of what the peer received so far.
func (p *peer) snapshot() ([]wire.Message, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wire.Message(nil), p.msgs...), append([]error(nil), p.errs...)
}

func (p *peer) handshakeDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.helloDone
}

// closerSet closes the peer's sockets, which ends its reader goroutines.
type closerSet struct {
	mu     sync.Mutex
	list   []io.Closer
	closed bool
}

func (s *closerSet) add(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return
	}
	s.list = append(s.list, c)
}

func (s *closerSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.list {
		c.Close()
	}
}
