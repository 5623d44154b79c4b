package ctnl

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/tools/txtar"
)

var updateEvents = flag.Bool("update", false, "record testdata/kernel-events.txtar again from the kernel (privileged)")

// kernelEventsFile holds flow events the kernel sent, recorded by
// TestKernelEventsDecodeFast -update.
const kernelEventsFile = "testdata/kernel-events.txtar"

// recordedEvents returns the messages of kernelEventsFile.
func recordedEvents(t testing.TB) []netlink.Message {
	t.Helper()
	ar, err := txtar.ParseFile(kernelEventsFile)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []netlink.Message
	for _, f := range ar.Files {
		for line := range strings.Lines(string(f.Data)) {
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("%s: %s: %v", kernelEventsFile, f.Name, err)
			}
			if err := eachMessage(b, func(m netlink.Message) error {
				msgs = append(msgs, m)
				return nil
			}); err != nil {
				t.Fatalf("%s: %s: %v", kernelEventsFile, f.Name, err)
			}
		}
	}
	return msgs
}

// appendAttr appends a netlink attribute to b.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// withAttrs is m with attrs appended to its attributes.
func withAttrs(m netlink.Message, attrs ...[]byte) netlink.Message {
	d := append([]byte(nil), m.Data...)
	for _, a := range attrs {
		d = append(d, a...)
	}
	m.Data = d
	return m
}

// decodeCases are flow messages of every shape the kernel sends, as this
// package's encoder writes them, with the attributes only the kernel
// sends (counters, timestamps, use, id, security context, SYN proxy)
// appended.
func decodeCases(t *testing.T) map[string]netlink.Message {
	counters := func(typ uint16, p, b uint64) []byte {
		return appendAttr(nil, typ|nlaNested, appendAttr(appendAttr(appendAttr(nil, ctaCountersPackets, be64(p)), ctaCountersBytes, be64(b)), ctaCountersPad, nil))
	}
	stamp := appendAttr(nil, ctaTimestamp|nlaNested, appendAttr(appendAttr(nil, ctaTimestampStart, be64(1_700_000_000_000_000_000)), ctaTimestampStop, be64(1_700_000_001_000_000_000)))
	zero := appendAttr(nil, ctaTimestamp|nlaNested, appendAttr(nil, ctaTimestampStart, be64(0)))
	sctp := udpFlow(4)
	sctp.Orig.Proto, sctp.Reply.Proto = protoSCTP, protoSCTP
	sctp.Present, sctp.SCTP = HasProtoInfo, SCTPInfo{State: 3, VTagOrig: 7, VTagReply: 9}
	dccp := udpFlow(5)
	dccp.Orig.Proto, dccp.Reply.Proto = protoDCCP, protoDCCP
	dccp.Present, dccp.DCCP = HasProtoInfo, DCCPInfo{State: 4, Role: 1}
	icmp := &Flow{Orig: Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.1.1"), Proto: protoICMP, ICMPID: 77, ICMPType: 8}, Timeout: 30}
	icmp.Reply = icmp.Orig.Invert()
	icmp6 := &Flow{Orig: Tuple{Src: addr("2001:db8::1"), Dst: addr("2001:db8::2"), Proto: protoICMPv6, ICMPID: 5, ICMPType: 128}, Timeout: 30}
	icmp6.Reply = icmp6.Orig.Invert()
	natted := tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80)
	natted.SNAT, natted.DNAT, natted.Helper, natted.Mark, natted.Zone = nat("198.18.2.1", 50000), nat("198.18.3.1", 8080), "ftp", 7, 3
	natted.Status |= StatusSrcNAT | StatusDstNAT
	natted.Present |= HasSeqAdj
	natted.SeqAdjOrig, natted.SeqAdjReply = SeqAdj{1, 2, 3}, SeqAdj{4, 5, 6}
	natted.TCP.FlagsOrig, natted.TCP.FlagsReply = TCPFlags{Flags: TCPFlagSACKPerm, Mask: 0xff}, TCPFlags{Flags: 1, Mask: 3}
	related := udpFlow(6)
	related.Master = tcpFlow("198.18.0.1", "198.18.1.1", 40000, 21).Orig
	labelled := udpFlow(7)
	labelled.Labels, labelled.LabelsMask = []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, make([]byte, 16)
	ipv6 := tcpFlow("2001:db8::1", "2001:db8::2", 1, 2)

	cases := map[string]netlink.Message{
		"new tcp":           eventMsg(t, OpCreate, tcpFlow("198.18.0.1", "198.18.1.1", 40000, 80), 0),
		"update udp":        eventMsg(t, OpUpdate, udpFlow(1), 42),
		"sctp":              eventMsg(t, OpUpdate, sctp, 0),
		"dccp":              eventMsg(t, OpUpdate, dccp, 0),
		"icmp":              eventMsg(t, OpCreate, icmp, 0),
		"icmpv6":            eventMsg(t, OpCreate, icmp6, 0),
		"ipv6":              eventMsg(t, OpUpdate, ipv6, 0),
		"nat helper seqadj": eventMsg(t, OpCreate, natted, 0),
		"master":            eventMsg(t, OpUpdate, related, 0),
		"labels":            eventMsg(t, OpUpdate, labelled, 0),
		"destroy counters stamps": withAttrs(eventMsg(t, OpUpdate, udpFlow(2), 0),
			counters(ctaCountersOrig, 3, 300), counters(ctaCountersReply, 2, 200), stamp,
			appendAttr(nil, ctaUse, be32(1)), appendAttr(nil, ctaID, be32(0xdeadbeef))),
		"zero counters and start": withAttrs(eventMsg(t, OpUpdate, udpFlow(3), 0),
			counters(ctaCountersOrig, 0, 0), counters(ctaCountersReply, 0, 0), zero),
		"secctx synproxy": withAttrs(eventMsg(t, OpUpdate, udpFlow(8), 0),
			appendAttr(nil, ctaSecCtx|nlaNested, appendAttr(nil, ctaSecCtxName, []byte("system_u:object_r:unlabeled_t:s0\x00"))),
			appendAttr(nil, ctaSynProxy|nlaNested, appendAttr(appendAttr(nil, 1, be32(1)), 3, be32(3)))),
		"unknown attribute ignored": withAttrs(eventMsg(t, OpUpdate, udpFlow(9), 0), appendAttr(nil, 99|nlaNested, []byte{1, 2, 3})),
		"repeated tuple":            withAttrs(eventMsg(t, OpUpdate, udpFlow(10), 0), eventMsg(t, OpUpdate, udpFlow(11), 0).Data[4:]),
	}
	d := cases["destroy counters stamps"]
	d.Header.Type = netlink.HeaderType(subsysCT<<8 | msgDelete)
	cases["destroy counters stamps"] = d
	return cases
}

// Every flow message the kernel sends is decoded by this package's
// decoder, as ti-mo's decodes it: recorded kernel events, and messages
// with every attribute a flow event can carry.
func TestDecodeFastAgrees(t *testing.T) {
	check := func(t *testing.T, m netlink.Message) {
		t.Helper()
		var fast, slow Event
		if !decodeFlowFast(m, &fast) {
			t.Fatalf("left to ti-mo's decoder: %x", m.Data)
		}
		if err := decodeEventTiMo(m, &slow); err != nil {
			t.Fatalf("ti-mo's decoder refuses what ours accepts: %v", err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoded as\n%+v\nti-mo's decoder says\n%+v", fast, slow)
		}
	}
	for name, m := range decodeCases(t) {
		t.Run(name, func(t *testing.T) { check(t, m) })
	}
	msgs := recordedEvents(t)
	if len(msgs) < 900 {
		t.Fatalf("%s holds %d events, want the recording of 900 (300 flows, each created, updated and destroyed)", kernelEventsFile, len(msgs))
	}
	for i, m := range msgs {
		t.Run(fmt.Sprint("recorded ", i), func(t *testing.T) { check(t, m) })
	}
}

// What the decoder leaves goes to ti-mo's, so that both refuse the same
// messages with the same errors, and take expectations.
func TestDecodeFastLeaves(t *testing.T) {
	base := eventMsg(t, OpUpdate, udpFlow(1), 0)
	pi := appendAttr(nil, ctaProtoInfo|nlaNested, appendAttr(nil, ctaProtoInfoTCP|nlaNested, appendAttr(nil, ctaTCPState, []byte{3})))
	exp, h, err := AppendExpectRequest(nil, OpCreate, natExpect())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		m     netlink.Message
		valid bool
	}{
		{"expectation", netlink.Message{Header: h, Data: exp}, true},
		{"zero-length attribute", withAttrs(base, []byte{0, 0, 99, 0}), true},
		{"second protoinfo", withAttrs(base, pi, pi), false},
		{"tuple without nested flag", withAttrs(base, appendAttr(nil, ctaTupleOrig, base.Data[8:])), false},
		{"timeout of 2 bytes", withAttrs(base, appendAttr(nil, ctaTimeout, be16(1))), false},
		{"truncated", netlink.Message{Header: base.Header, Data: base.Data[:len(base.Data)-3]}, false},
		{"get", netlink.Message{Header: netlink.Header{Type: subsysCT<<8 | msgGet}, Data: base.Data}, false},
		{"short", netlink.Message{Header: base.Header, Data: base.Data[:3]}, false},
		{"unknown tuple child", withAttrs(base, appendAttr(nil, ctaTupleReply|nlaNested, appendAttr(base.Data[8:], 9, nil))), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev, slow Event
			if decodeFlowFast(c.m, &ev) {
				t.Fatal("decoded, want it left to ti-mo's decoder")
			}
			err := decodeEvent(c.m, &ev)
			serr := decodeEventTiMo(c.m, &slow)
			if fmt.Sprint(err) != fmt.Sprint(serr) || err == nil != c.valid {
				t.Fatalf("decodeEvent: %v, ti-mo's decoder: %v, want valid=%v", err, serr, c.valid)
			}
			if err == nil && !reflect.DeepEqual(ev, slow) {
				t.Fatalf("decoded as %+v, want %+v", ev, slow)
			}
		})
	}
}

// Whatever the bytes, this package's decoder and ti-mo's agree: when ours
// decodes a message, ti-mo's decodes it to the same event; decodeEvent
// refuses exactly what ti-mo's refuses. Neither panics.
func FuzzCtnlDecodeFast(f *testing.F) {
	t := &testing.T{}
	for _, m := range decodeCases(t) {
		f.Add(marshal(m))
	}
	for i, m := range recordedEvents(f) {
		if i%50 == 0 {
			f.Add(marshal(m))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = eachMessage(b, func(m netlink.Message) error {
			var fast, ev, slow Event
			ok := decodeFlowFast(m, &fast)
			serr := decodeEventTiMo(m, &slow)
			if ok && serr != nil {
				t.Fatalf("ours decodes what ti-mo's refuses (%v): %x", serr, m.Data)
			}
			if ok && !reflect.DeepEqual(fast, slow) {
				t.Fatalf("decoded as\n%+v\nti-mo's decoder says\n%+v", fast, slow)
			}
			if err := decodeEvent(m, &ev); fmt.Sprint(err) != fmt.Sprint(serr) {
				t.Fatalf("decodeEvent: %v, ti-mo's decoder: %v", err, serr)
			}
			return nil
		})
	})
}

// Decoding a recorded stream of the kernel's flow events, one reused
// Event as the receiver does: ours against ti-mo's.
func BenchmarkDecodeRecorded(b *testing.B) {
	msgs := recordedEvents(b)
	size := 0
	for _, m := range msgs {
		size += 16 + len(m.Data)
	}
	for _, c := range []struct {
		name   string
		decode func(netlink.Message, *Event) error
	}{{"ctnl", decodeEvent}, {"ti-mo", decodeEventTiMo}} {
		b.Run(c.name, func(b *testing.B) {
			var ev Event
			b.ReportAllocs()
			b.SetBytes(int64(size / len(msgs)))
			i := 0
			for b.Loop() {
				if err := c.decode(msgs[i%len(msgs)], &ev); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// writeRecorded stores datagrams as kernelEventsFile.
func writeRecorded(t *testing.T, datagrams [][]byte) {
	var sb strings.Builder
	for _, d := range datagrams {
		sb.WriteString(hex.EncodeToString(d))
		sb.WriteByte('\n')
	}
	ar := &txtar.Archive{
		Comment: []byte("Flow events (new, update, destroy) a Linux kernel sent to a ctnetlink event socket, one\n" +
			"datagram a line in hex, with accounting and timestamps on: recorded by\n" +
			"`CTSYNC_PRIVILEGED_TESTS=1 go test ./engine/ctnl -run TestKernelEventsDecodeFast -update` (as root).\n"),
		Files: []txtar.File{{Name: "events", Data: []byte(sb.String())}},
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kernelEventsFile, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The kernel's own flow events, of every protocol and with accounting,
// timestamps, NAT, a helper, marks and zones, are all decoded by this
// package's decoder, as ti-mo's decodes them. With -update, they are
// recorded as kernelEventsFile for the tests and benchmarks that run
// without a kernel.
func TestKernelEventsDecodeFast(t *testing.T) {
	k := newKernelNS(t)
	for _, s := range []string{"net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1", "net.netfilter.nf_conntrack_events=1"} {
		k.ns.Exec(t, "sysctl", "-q", "-w", s)
	}
	var s sock
	if err := k.ns.Do(func() error {
		var err error
		s, err = dialSock(sockConfig{groups: []uint32{groupCTNew, groupCTUpdate, groupCTDestroy}, readBuffer: 8 << 20})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })

	// The flows: TCP, UDP, ICMP, SCTP over IPv4 and IPv6, some
	// translated, marked, zoned, with a sequence adjustment.
	var flows []*Flow
	for i := range 300 {
		var f *Flow
		switch i % 6 {
		case 0:
			f = manyFlow(i)
		case 1:
			f = udpFlow(i)
		case 2:
			f = &Flow{Orig: Tuple{Src: addr("198.18.0.2"), Dst: addr("198.18.1.2"), Proto: protoICMP, ICMPID: uint16(i), ICMPType: 8}, Timeout: 30}
			f.Reply = f.Orig.Invert()
		case 3:
			f = tcpFlow("2001:db8::1", "2001:db8::2", uint16(1000+i), 443)
		case 4:
			f = udpFlow(i)
			f.Orig.Proto, f.Reply.Proto = protoSCTP, protoSCTP
			f.Present, f.SCTP = HasProtoInfo, SCTPInfo{State: 3, VTagOrig: uint32(i), VTagReply: 9}
		case 5:
			f = tcpFlow("198.18.0.3", "198.18.1.3", uint16(1000+i), 80)
			f.SNAT = nat("198.18.2.3", uint16(20000+i))
			f.Mark, f.Zone = uint32(i), 2
			f.Present |= HasSeqAdj
			f.SeqAdjOrig = SeqAdj{Pos: 100, OffsetBefore: 1, OffsetAfter: 2}
		}
		flows = append(flows, f)
	}
	apply := func(op Op) {
		reqs := make([]Request, len(flows))
		for i, f := range flows {
			if op == OpUpdate {
				f.Mark++
			}
			reqs[i] = Request{Op: op, Flow: f}
		}
		errs := make([]error, len(reqs))
		if err := k.w.Apply(reqs, errs); err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s %s: %v", op, &reqs[i], err)
			}
		}
	}
	apply(OpCreate)
	apply(OpUpdate)
	apply(OpDelete)

	want := 3 * len(flows)
	var datagrams [][]byte
	counts := map[EventType]int{}
	n, withCounters, withStop := 0, 0, 0
	buf := make([]byte, recvBufSize)
	for n < want {
		if err := s.setReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := s.recv(buf, nil)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", n, want, err)
		}
		d := append([]byte(nil), buf[:got]...)
		datagrams = append(datagrams, d)
		if err := eachMessage(d, func(m netlink.Message) error {
			n++
			var fast, slow Event
			if !decodeFlowFast(m, &fast) {
				return fmt.Errorf("event %d left to ti-mo's decoder: %x", n, m.Data)
			}
			if err := decodeEventTiMo(m, &slow); err != nil {
				return fmt.Errorf("event %d: ti-mo's decoder refuses it: %v", n, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				return fmt.Errorf("event %d decoded as\n%+v\nti-mo's decoder says\n%+v", n, fast, slow)
			}
			counts[fast.Type]++
			if fast.Flow.Present&HasCounters != 0 {
				withCounters++
			}
			if !fast.Flow.Stop.IsZero() {
				withStop++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if counts[EventNew] != len(flows) || counts[EventUpdate] != len(flows) || counts[EventDestroy] != len(flows) ||
		withCounters == 0 || withStop != len(flows) {
		t.Errorf("events %v, %d with counters, %d with a stop time; want %d of each type, every destroy with its stop time",
			counts, withCounters, withStop, len(flows))
	}
	if *updateEvents {
		writeRecorded(t, datagrams)
	}
}
