package engine

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link/wire"
)

// capturedMessage is one state message of the sync traffic that two
// conntrackd 1.4.7 daemons exchanged (link/wire/testdata/README.md says
// how it was recorded), with its bytes.
type capturedMessage struct {
	where string
	raw   []byte
	msg   wire.Message
}

// capturedMessages returns every conntrack and expectation message of
// the captures. The TCP captures' segments are joined per stream and cut
// by the messages' length fields.
func capturedMessages(t testing.TB) []capturedMessage {
	t.Helper()
	files, err := filepath.Glob("../link/wire/testdata/captures/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("../link/wire/testdata/captures/*/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	var out []capturedMessage
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var payloads [][]byte
		var names []string
		streams := map[string]int{}
		for _, af := range ar.Files {
			b, err := hex.DecodeString(strings.Join(strings.Fields(string(af.Data)), ""))
			if err != nil {
				t.Fatalf("%s: %s: %v", file, af.Name, err)
			}
			if f := strings.Fields(af.Name); len(f) == 3 && f[1] == "tcp" {
				if i, ok := streams[f[2]]; ok {
					payloads[i] = append(payloads[i], b...)
					continue
				}
				streams[f[2]] = len(payloads)
			}
			payloads = append(payloads, b)
			names = append(names, af.Name)
		}
		for i, b := range payloads {
			for off := 0; off < len(b); {
				var m wire.Message
				n, err := wire.Decode(b[off:], &m)
				if err != nil {
					t.Fatalf("%s: %s: offset %d: %v", file, names[i], off, err)
				}
				if m.Type.IsCT() || m.Type.IsExp() {
					out = append(out, capturedMessage{
						where: filepath.Base(file) + ": " + names[i],
						raw:   b[off : off+n],
						msg:   m,
					})
				}
				off += n
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no state message in the captures")
	}
	return out
}

// The captures were made with TCPWindowTracking on and CommitTimeout
// unset (link/wire/testdata/README.md).
var captureOptions = ConvertOptions{WindowTracking: true}

// A message conntrackd sent, turned into the flow to write to the kernel
// and back into a message, is the message that was sent, byte for byte,
// but for what conntrackd sends that the kernel flow cannot hold or that
// ctsync refuses to trust. Each such difference is applied to the
// captured message before the comparison and counted, and every kind must
// occur: a rule that no capture exercises is not checked here.
func TestConvertCapturedFlows(t *testing.T) {
	type adjust struct {
		name  string
		apply func(w *wire.Flow) bool
	}
	adjusts := []adjust{{
		// ctnl.Flow does not carry SYNPROXY (its, isn, tsoff): zeros in
		// every capture, which the kernel reports for every entry made
		// through ctnetlink.
		name: "SYNPROXY dropped",
		apply: func(w *wire.Flow) bool {
			if !w.Has(wire.AttrSynproxy) {
				return false
			}
			w.Attrs.Clear(uint8(wire.AttrSynproxy))
			w.Synproxy = [3]uint32{}
			return true
		},
	}, {
		// The kernel leaves the mark out of an update event when it is
		// zero; ctsync sends the zero.
		name: "zero MARK sent",
		apply: func(w *wire.Flow) bool {
			if w.Has(wire.AttrMark) {
				return false
			}
			w.Set(wire.AttrMark)
			return true
		},
	}, {
		// DCCP without state: the ports are stale bytes of the
		// previous flow the legacy daemon sent (docs/compat.md).
		name: "stale DCCP ports zeroed",
		apply: func(w *wire.Flow) bool {
			if w.Orig.Proto != protoDCCP || w.Has(wire.AttrDCCPState) || w.Orig.SrcPort|w.Orig.DstPort == 0 {
				return false
			}
			w.Orig.SrcPort, w.Orig.DstPort = 0, 0
			return true
		},
	}}
	counts := make([]int, len(adjusts))
	exact := 0
	flows := 0
	var k ctnl.Flow
	for _, c := range capturedMessages(t) {
		if !c.msg.Type.IsCT() {
			continue
		}
		flows++
		if err := KernelFlow(&k, &c.msg.Flow, captureOptions); err != nil {
			t.Errorf("%s: %s: %v", c.where, c.msg.Type, err)
			continue
		}
		var got wire.Message
		got.Header = c.msg.Header
		WireFlow(&got.Flow, &k, captureOptions)
		gotRaw := wire.AppendMessage(nil, &got)
		if bytes.Equal(gotRaw, c.raw) {
			exact++
			continue
		}
		want := c.msg
		for i, a := range adjusts {
			if a.apply(&want.Flow) {
				counts[i]++
			}
		}
		wantRaw := wire.AppendMessage(nil, &want)
		if !bytes.Equal(gotRaw, wantRaw) {
			t.Errorf("%s: %s of %v: re-encoded\n%x\nwant\n%x\nflow %+v", c.where, c.msg.Type, c.msg.Flow.Orig, gotRaw, wantRaw, k)
		}
	}
	for i, a := range adjusts {
		if counts[i] == 0 {
			t.Errorf("no captured message needed %q: the rule is not exercised", a.name)
		}
		t.Logf("%s: %d messages", a.name, counts[i])
	}
	t.Logf("%d of %d conntrack messages re-encoded unchanged", exact, flows)
}

// The same for expectations: every attribute survives, NAT tuple, NAT
// direction and expectation function included, except that the expected
// tuple of an expectation whose protocol has no ports travels with the
// master's ports, stale, which the kernel's tuple does not keep.
func TestConvertCapturedExpectations(t *testing.T) {
	withNAT, stale, exact, n := 0, 0, 0, 0
	var k ctnl.Expect
	for _, c := range capturedMessages(t) {
		if !c.msg.Type.IsExp() {
			continue
		}
		n++
		if err := KernelExpect(&k, &c.msg.Exp, captureOptions); err != nil {
			t.Errorf("%s: %s: %v", c.where, c.msg.Type, err)
			continue
		}
		if c.msg.Exp.Has(wire.ExpAttrNATDir) && c.msg.Exp.Has(wire.ExpAttrFn) {
			withNAT++
			if k.NAT.IsZero() || k.Function == "" {
				t.Errorf("%s: %s: NAT %+v function %q: the message's are lost", c.where, c.msg.Type, k.NAT, k.Function)
			}
		}
		var got wire.Message
		got.Header = c.msg.Header
		WireExpect(&got.Exp, &k, captureOptions)
		gotRaw := wire.AppendMessage(nil, &got)
		if bytes.Equal(gotRaw, c.raw) {
			exact++
			continue
		}
		want := c.msg
		if !kernelPorts(want.Exp.Tuple.Proto) && want.Exp.Tuple.SrcPort|want.Exp.Tuple.DstPort|want.Exp.Mask.SrcPort|want.Exp.Mask.DstPort != 0 {
			stale++
			want.Exp.Tuple.SrcPort, want.Exp.Tuple.DstPort = 0, 0
			want.Exp.Mask.SrcPort, want.Exp.Mask.DstPort = 0, 0
		}
		wantRaw := wire.AppendMessage(nil, &want)
		if !bytes.Equal(gotRaw, wantRaw) {
			t.Errorf("%s: %s: re-encoded\n%x\nwant\n%x\nexpectation %+v", c.where, c.msg.Type, gotRaw, wantRaw, k)
		}
	}
	if withNAT == 0 || stale == 0 || exact == 0 {
		t.Errorf("expectations: %d unchanged, %d with NAT and function, %d with stale ports: each kind should occur", exact, withNAT, stale)
	}
	t.Logf("%d of %d expectation messages unchanged, %d with NAT and function, %d stale ports", exact, n, withNAT, stale)
}
