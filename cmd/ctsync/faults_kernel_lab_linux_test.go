package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/netnstest"
	"github.com/ctsync/ctsync/link/wire"
)

// dumpLines lists a cache of d (`ctsync dump internal|external`).
func (d *labDaemon) dumpLines(t *testing.T, cache string) []string {
	t.Helper()
	var lines []string
	for l := range strings.Lines(d.mustCtl(t, "dump", cache)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// synthetic keeps the lines of the made-up flows (lab.SyntheticFlow):
// a kernel table also holds the sync link's own flow.
func synthetic(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "src=198.18.") || strings.Contains(l, "src=198.19.") {
			out = append(out, l)
		}
	}
	return out
}

// sameFlows fails t with a readable diff unless the two listings hold the
// same flows.
func sameFlows(t *testing.T, aName string, a []string, bName string, b []string) {
	t.Helper()
	if diff := lab.DiffFlows(aName, a, bName, b, 10); diff != "" {
		t.Fatal(diff)
	}
}

// TestLabFaultKernelTableFull is issue 10's "kernel table full": the
// backup's external cache holds more flows than its kernel has room for
// (net.netfilter.nf_conntrack_max) when keepalived runs `ctsync commit`.
// The commit reports it (non-zero exit, how many, why), stats count it,
// the flows that fit are committed, and the external cache keeps every
// flow, so that a commit after raising the limit writes the rest.
//
// The limit is the machine's, not the namespace's (a child namespace
// cannot set it): the test lowers it for the commit alone, under
// netnstest's lock, no lower than netnstest.ConntrackMaxFloor.
func TestLabFaultKernelTableFull(t *testing.T) {
	l := lab.New(t, lab.Options{})
	fw1 := startDaemon(t, l, l.FW1, "ftfw")
	fw2 := startDaemon(t, l, l.FW2, "ftfw")
	limit := netnstest.ConntrackMaxFloor
	n := limit + 2000
	l.FW1.Fill(t, n)
	lab.Eventually(t, 60*time.Second, fmt.Sprintf("%d flows in fw2's external cache", n), func() (bool, string) {
		got := number(fw2.stats(t), "caches", "external", "active")
		return got == n, fmt.Sprintf("fw2 external: %d", got)
	})
	sameFlows(t, "fw1's internal cache", fw1.dumpLines(t, "internal"), "fw2's external cache", fw2.dumpLines(t, "external"))

	before := l.FW2.Count(t)
	restore := netnstest.LowerConntrackMax(t, limit)
	out, err := fw2.ctl("commit")
	restore()
	if err == nil {
		t.Fatalf("ctsync commit of %d flows into a table with room for %d succeeded:\n%s", n, limit-before, out)
	}
	s := fw2.stats(t)
	committed, refused := number(s, "operations", "committed"), number(s, "operations", "commit_failed")
	// The kernel may make room by dropping an unassured flow of
	// before's (early drop), never one of ours: they are assured.
	if committed+refused != n || committed < limit-before || committed > limit {
		t.Errorf("stats: %d committed and %d refused of %d, into a table of %d with %d flows in it", committed, refused, n, limit, before)
	}
	for _, want := range []string{fmt.Sprintf("%d of %d flows", refused, n), fmt.Sprintf("%d refused because", refused), "table is full", "nf_conntrack_max"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ctsync commit's error does not say %q:\n%v", want, err)
		}
	}
	// The rest are committed: the kernel is full, of the flows the
	// commit wrote.
	if got := l.FW2.Count(t); got != limit {
		t.Errorf("fw2's kernel tracks %d flows after the commit, want %d (full)", got, limit)
	}
	if got := len(synthetic(l.FW2.Entries(t))); got != committed {
		t.Errorf("fw2's kernel holds %d of the committed flows, want %d", got, committed)
	}
	// Nothing dropped: the external cache still holds every flow.
	ext := fw2.dumpLines(t, "external")
	sameFlows(t, "fw1's internal cache", fw1.dumpLines(t, "internal"), "fw2's external cache after the failed commit", ext)

	// With the limit back, a second commit writes the rest.
	fw2.mustCtl(t, "commit")
	sameFlows(t, "fw2's external cache", ext, "fw2's kernel table", synthetic(l.FW2.Entries(t)))
}

// syncGarbage is what TestLabFaultGarbage sends to a sync port, in
// kinds, each datagram one the decoder refuses at its first byte or
// length (checked here, so that no forged message reaches FT-FW's
// sequence tracking): random bytes, a real message cut short, headers
// with bad lengths, other versions and types, and oversized datagrams.
func syncGarbage(t *testing.T) map[string][][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(10, 10))
	var msg wire.Message
	msg.Type, msg.Seq = wire.TypeCTNew, 7
	engine.WireFromCache(&msg.Flow, &cache.Flow{
		Orig:    cache.Tuple{Src: netip.MustParseAddr("198.18.200.1"), Dst: netip.MustParseAddr("198.18.200.2"), Proto: 17, SrcPort: 1, DstPort: 53},
		Timeout: 30, Status: 8,
	}, engine.ConvertOptions{})
	valid := wire.AppendMessage(nil, &msg)
	withHeader := func(b0 byte, length int, size int) []byte {
		d := make([]byte, size)
		for i := range d {
			d[i] = byte(r.Uint32())
		}
		d[0], d[1] = b0, 0
		binary.BigEndian.PutUint16(d[2:], uint16(length))
		return d
	}
	kinds := map[string][][]byte{}
	for range 300 {
		d := make([]byte, 1+r.IntN(1400))
		for i := range d {
			d[i] = byte(r.Uint32())
		}
		kinds["random bytes"] = append(kinds["random bytes"], d)
	}
	for n := 1; n < len(valid); n++ {
		kinds["a message cut short"] = append(kinds["a message cut short"], valid[:n])
	}
	for _, length := range []int{0, 7, len(valid) + 1, 65535} {
		d := append([]byte(nil), valid...)
		binary.BigEndian.PutUint16(d[2:], uint16(length))
		kinds["bad length"] = append(kinds["bad length"], d)
	}
	// An ACK needs 16 bytes; this header says 8.
	kinds["bad length"] = append(kinds["bad length"], withHeader(wire.Version<<4|byte(wire.TypeControl), 8, 8))
	kinds["bad length"][len(kinds["bad length"])-1][1] = byte(wire.FlagAck)
	for _, v := range []byte{0, 2, 15} {
		d := append([]byte(nil), valid...)
		d[0] = v<<4 | d[0]&0x0f
		kinds["other version"] = append(kinds["other version"], d)
	}
	for _, typ := range []byte{6, 9, 15} {
		kinds["unknown type"] = append(kinds["unknown type"], withHeader(wire.Version<<4|typ, 8, 8))
	}
	// A conntrack message whose attributes are noise.
	for range 50 {
		size := 12 + r.IntN(1000)
		kinds["noise attributes"] = append(kinds["noise attributes"], withHeader(wire.Version<<4|byte(wire.TypeCTNew), size, size))
	}
	kinds["oversized"] = [][]byte{withHeader(0, 65000, 65000), withHeader(wire.Version<<4|byte(wire.TypeCTUpdate), 65535, 60000)}
	for kind, ds := range kinds {
		for i, d := range ds {
			var m wire.Message
			if _, err := wire.Decode(d, &m); err == nil {
				// Noise that happens to decode: make it another
				// version, refused at byte 0.
				ds[i] = append([]byte{0x20 | d[0]&0x0f}, d[1:]...)
			}
			if _, err := wire.Decode(ds[i], &m); err == nil {
				t.Fatalf("%s %d decodes", kind, i)
			}
		}
	}
	return kinds
}

// sendUDP sends each datagram from fw's namespace to addr.
func sendUDP(fw *lab.Node, addr string, ds [][]byte) error {
	return fw.Do(func() error {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, d := range ds {
			if _, err := c.Write(d); err != nil {
				return fmt.Errorf("send %d bytes: %w", len(d), err)
			}
		}
		return nil
	})
}

// controlGarbage is sent to a control socket, each on a connection of its
// own, with the result code the server answers.
var controlGarbage = []struct {
	name, raw, code string
}{
	{"not JSON", "commit please\n", "malformed"},
	{"binary junk", "\x00\xff\xfe\x17\x03\x01\x00\x00\n", "malformed"},
	{"a TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "malformed"},
	{"cut short", `{"version":1,"command":"commit"`, "malformed"},
	{"JSON of another shape", `{"version":1,"command":["commit"]}` + "\n", "malformed"},
	{"oversized line", strings.Repeat("x", 100000) + "\n", "too-large"},
	{"oversized, no newline", strings.Repeat("{", 1<<20), "too-large"},
	{"other version", `{"version":9,"command":"commit"}` + "\n", "version"},
	{"unknown command", `{"version":1,"command":"shutdown"}` + "\n", "unknown"},
}

// ctlExchange sends raw to a control socket, closes its sending side, and
// returns what the server answered.
func ctlExchange(socket, raw string) (string, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.Write([]byte(raw))
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, err := io.ReadAll(c)
	if len(out) > 0 {
		err = nil
	}
	return string(out), err
}

// TestLabFaultGarbage is issue 10's "garbage on the sync port and on the
// control socket": while fw1 creates flows, fw2's sync port gets
// datagrams of every kind of garbage and then a flood of them, and its
// control socket gets junk, oversized requests, a crowd of clients that
// send nothing (slowloris, beyond the client limit) and a flood of junk
// connections. Everything is counted and refused, the log stays small
// (a line per kind of refusal per 10 s), the daemon stays up, and fw2's
// external cache ends with exactly fw1's internal cache.
func TestLabFaultGarbage(t *testing.T) {
	l := lab.New(t, lab.Options{})
	fw1 := startDaemon(t, l, l.FW1, "ftfw")
	fw2 := startDaemon(t, l, l.FW2, "ftfw")
	start := time.Now()

	// Replication goes on all along: flows are created on fw1 in steps
	// while the garbage arrives.
	const steps, perStep = 40, 250
	writing := make(chan error, 1)
	go func() {
		for i := range steps {
			if err := l.FW1.WriteFlows(ctnl.OpCreate, lab.Span(i*perStep, (i+1)*perStep), 1); err != nil {
				writing <- err
				return
			}
			time.Sleep(100 * time.Millisecond) // pace: spread over the garbage
		}
		writing <- nil
	}()

	syncPort := net.JoinHostPort(l.FW2.SyncAddrs[0].Addr().String(), strconv.Itoa(lab.SyncPort))
	kinds := syncGarbage(t)
	crafted := 0
	for kind, ds := range kinds {
		if err := sendUDP(l.FW1, syncPort, ds); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		crafted += len(ds)
	}
	lab.Eventually(t, 20*time.Second, "the garbage datagrams to be counted", func() (bool, string) {
		got := number(fw2.stats(t), "sync", "malformed")
		return got == crafted, fmt.Sprintf("sync malformed %d, sent %d", got, crafted)
	})
	// The flood: random junk as fast as one sender goes.
	var flood [][]byte
	for _, d := range kinds["random bytes"] {
		flood = append(flood, d, d, d, d, d, d, d, d, d, d)
	}
	for range 10 {
		if err := sendUDP(l.FW1, syncPort, flood); err != nil {
			t.Fatal(err)
		}
	}
	flooded := 10 * len(flood)

	for _, g := range controlGarbage {
		out, err := ctlExchange(fw2.socket, g.raw)
		if err != nil || !strings.Contains(out, `"code":"`+g.code+`"`) {
			t.Errorf("control socket, %s: answered %q (%v), want code %s", g.name, out, err, g.code)
		}
	}
	// Slowloris: more clients than the daemon serves at once (16)
	// connect and send nothing. The first 16 are cut off after the read
	// timeout (5 s), the rest are told at once that it is busy.
	const crowd = 40
	var conns []net.Conn
	for range crowd {
		c, err := net.Dial("unix", fw2.socket)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	answers := map[string]int{}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		out, _ := io.ReadAll(c)
		c.Close()
		code := "none"
		for _, want := range []string{"timeout", "busy"} {
			if strings.Contains(string(out), `"code":"`+want+`"`) {
				code = want
			}
		}
		answers[code]++
	}
	if answers["timeout"]+answers["busy"] != crowd || answers["busy"] == 0 {
		t.Errorf("%d silent clients were answered %v, want each a timeout or busy, some busy", crowd, answers)
	}
	// A flood of junk connections.
	const junkClients = 300
	for i := range junkClients {
		if _, err := ctlExchange(fw2.socket, fmt.Sprintf("junk %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}

	if err := <-writing; err != nil {
		t.Fatal(err)
	}
	n := steps * perStep
	lab.Eventually(t, 60*time.Second, fmt.Sprintf("%d flows in fw2's external cache", n), func() (bool, string) {
		got := number(fw2.stats(t), "caches", "external", "active")
		return got == n, fmt.Sprintf("fw2 external: %d", got)
	})
	sameFlows(t, "fw1's internal cache", fw1.dumpLines(t, "internal"), "fw2's external cache", fw2.dumpLines(t, "external"))

	s := fw2.stats(t)
	if got := number(s, "sync", "malformed"); got < crafted+flooded/2 || got > crafted+flooded {
		t.Errorf("sync malformed %d after %d crafted and %d flooded datagrams", got, crafted, flooded)
	}
	wantControl := map[string]int{"malformed": 5 + junkClients, "too_large": 2, "unsupported": 2, "timeouts": crowd - answers["busy"], "busy": answers["busy"]}
	for k, want := range wantControl {
		if got := number(s, "control", k); got != want {
			t.Errorf("control %s: %d, want %d", k, got, want)
		}
	}
	// The log: one line per kind of refusal per 10 s, with the count.
	log := fw2.log()
	took := time.Since(start)
	limit := 2 + int(took/(10*time.Second))
	for _, what := range []string{"malformed sync message", "request refused"} {
		if got := strings.Count(log, what); got > limit {
			t.Errorf("%q logged %d times in %v, want at most %d", what, got, took.Round(time.Second), limit)
		}
	}
	if len(log) > 16<<10 {
		t.Errorf("fw2's log grew to %d bytes", len(log))
	}
	t.Logf("%d crafted and %d flooded datagrams, %d control clients in %v; fw2: %d bytes of log; sync %v",
		crafted, flooded, len(controlGarbage)+crowd+junkClients, took.Round(time.Millisecond), len(log), s["sync"])
}
