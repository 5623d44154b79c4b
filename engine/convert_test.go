package engine

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/link/wire"
)

// kernelFlow returns a flow as ctnl decodes it from the kernel: the reply
// tuple as the kernel shows it and the NAT derived from it.
func kernelFlow(orig ctnl.Tuple, edit func(f *ctnl.Flow)) ctnl.Flow {
	f := ctnl.Flow{
		Orig:    orig,
		Reply:   orig.Invert(),
		Status:  ctnl.StatusSeenReply | ctnl.StatusAssured | ctnl.StatusConfirmed,
		Timeout: 120,
		Mark:    7,
		ID:      4242,
	}
	if edit != nil {
		edit(&f)
	}
	f.DeriveNAT()
	return f
}

func tuple(proto uint8, src, dst string, sport, dport uint16) ctnl.Tuple {
	return ctnl.Tuple{Src: addr(src), Dst: addr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

func icmpTuple(proto uint8, src, dst string, typ, code uint8, id uint16) ctnl.Tuple {
	return ctnl.Tuple{Src: addr(src), Dst: addr(dst), Proto: proto, ICMPType: typ, ICMPCode: code, ICMPID: id}
}

func tcpState(state uint8) func(f *ctnl.Flow) {
	return func(f *ctnl.Flow) {
		f.Present |= ctnl.HasProtoInfo
		f.TCP = ctnl.TCPInfo{State: state, WScaleOrig: 7, WScaleReply: 9}
	}
}

func both(edits ...func(f *ctnl.Flow)) func(f *ctnl.Flow) {
	return func(f *ctnl.Flow) {
		for _, e := range edits {
			e(f)
		}
	}
}

// labels returns the kernel's 16-byte label bitmap with the given labels.
func labels(bs ...int) []byte {
	var w [wire.LabelBytes]byte
	for _, b := range bs {
		w[4*(b/32)+3-(b%32)/8] |= 1 << (b % 8)
	}
	k := make([]byte, kernelLabelBytes)
	kernelLabels(k, &w)
	return k
}

// A kernel flow of every protocol and attribute kind goes to the wire,
// through the codec, and back to the kernel's flow that the peer writes:
// the same flow, NAT set up to map as the original did, but for what the
// sync protocol does not carry (want edits the original to say what).
func TestConvertRoundTrip(t *testing.T) {
	const (
		tcpEstablished  = 3
		sctpEstablished = 3
		dccpOpen        = 4
	)
	for _, tc := range []struct {
		name string
		f    ctnl.Flow
		o    ConvertOptions
		// want edits the original into what the peer writes.
		want func(f *ctnl.Flow)
	}{{
		name: "TCP established, window tracking",
		f:    kernelFlow(tuple(protoTCP, "198.18.0.10", "198.18.0.20", 1234, 80), tcpState(tcpEstablished)),
		o:    ConvertOptions{WindowTracking: true},
		want: flags(ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale),
	}, {
		name: "TCP established, no window tracking: scales not sent",
		f:    kernelFlow(tuple(protoTCP, "198.18.0.10", "198.18.0.20", 1234, 80), tcpState(tcpEstablished)),
		want: both(flags(ctnl.TCPFlagSACKPerm|ctnl.TCPFlagBeLiberal), func(f *ctnl.Flow) { f.TCP.WScaleOrig, f.TCP.WScaleReply = 0, 0 }),
	}, {
		name: "TCP time wait closes",
		f:    kernelFlow(tuple(protoTCP, "198.18.0.10", "198.18.0.20", 1234, 80), tcpState(7)),
		o:    ConvertOptions{WindowTracking: true},
		want: flags(ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale | ctnl.TCPFlagCloseInit),
	}, {
		name: "TCP without state (a destroy event)",
		f:    kernelFlow(tuple(protoTCP, "198.18.0.10", "198.18.0.20", 1234, 80), func(f *ctnl.Flow) { f.Timeout = 0 }),
	}, {
		name: "UDP over IPv6 in a zone, mark zero",
		f: kernelFlow(tuple(protoUDP, "2001:db8::1", "2001:db8::2", 5353, 53), func(f *ctnl.Flow) {
			f.Zone, f.Mark = 5, 0
		}),
	}, {
		name: "SCTP with state",
		f: kernelFlow(tuple(protoSCTP, "198.18.0.50", "198.18.0.51", 2905, 2906), func(f *ctnl.Flow) {
			f.Present |= ctnl.HasProtoInfo
			f.SCTP = ctnl.SCTPInfo{State: sctpEstablished, VTagOrig: 0xdeadbeef, VTagReply: 0x01020304}
		}),
	}, {
		name: "DCCP with state",
		f: kernelFlow(tuple(protoDCCP, "198.18.0.60", "198.18.0.61", 5001, 5002), func(f *ctnl.Flow) {
			f.Present |= ctnl.HasProtoInfo
			f.DCCP = ctnl.DCCPInfo{State: dccpOpen, Role: 1}
		}),
	}, {
		name: "DCCP without state: ports not trusted",
		f:    kernelFlow(tuple(protoDCCP, "198.18.0.60", "198.18.0.61", 5001, 5002), nil),
		want: func(f *ctnl.Flow) { f.Orig.SrcPort, f.Orig.DstPort, f.Reply.SrcPort, f.Reply.DstPort = 0, 0, 0, 0 },
	}, {
		name: "ICMP echo",
		f:    kernelFlow(icmpTuple(protoICMP, "198.18.0.40", "198.18.0.41", 8, 0, 0x1234), nil),
	}, {
		name: "ICMPv6 echo",
		f:    kernelFlow(icmpTuple(protoICMPv6, "2001:db8::40", "2001:db8::41", 128, 0, 77), nil),
	}, {
		name: "GRE and UDP-Lite travel without ports, as in conntrackd",
		f:    kernelFlow(tuple(protoGRE, "198.18.0.90", "198.18.0.91", 11, 12), nil),
		want: func(f *ctnl.Flow) { f.Orig.SrcPort, f.Orig.DstPort, f.Reply.SrcPort, f.Reply.DstPort = 0, 0, 0, 0 },
	}, {
		name: "UDP-Lite",
		f:    kernelFlow(tuple(protoUDPLite, "198.18.0.92", "198.18.0.93", 11, 12), nil),
		want: func(f *ctnl.Flow) { f.Orig.SrcPort, f.Orig.DstPort, f.Reply.SrcPort, f.Reply.DstPort = 0, 0, 0, 0 },
	}, {
		name: "source NAT with port",
		f: kernelFlow(tuple(protoUDP, "198.18.0.72", "198.18.0.73", 4444, 53), func(f *ctnl.Flow) {
			f.Reply.Dst, f.Reply.DstPort = addr("203.0.113.8"), 40000
			f.Status |= ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone | ctnl.StatusDstNATDone
		}),
	}, {
		name: "destination NAT with port",
		f: kernelFlow(tuple(protoTCP, "198.18.0.70", "198.18.0.71", 3333, 80), both(tcpState(tcpEstablished), func(f *ctnl.Flow) {
			f.Reply.Src, f.Reply.SrcPort = addr("203.0.113.7"), 8080
			f.Status |= ctnl.StatusDstNAT | ctnl.StatusSrcNATDone | ctnl.StatusDstNATDone
		})),
		o:    ConvertOptions{WindowTracking: true},
		want: flags(ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale),
	}, {
		name: "both NATs, port only on one side",
		f: kernelFlow(tuple(protoUDP, "198.18.0.74", "198.18.0.75", 1000, 2000), func(f *ctnl.Flow) {
			f.Reply.Dst = addr("203.0.113.9")
			f.Reply.SrcPort = 2001
			f.Status |= ctnl.StatusSrcNAT | ctnl.StatusDstNAT | ctnl.StatusSrcNATDone | ctnl.StatusDstNATDone
		}),
	}, {
		name: "IPv6 destination NAT",
		f: kernelFlow(tuple(protoUDP, "2001:db8::10", "2001:db8::20", 4000, 53), func(f *ctnl.Flow) {
			f.Reply.Src = addr("2001:db8::99")
			f.Status |= ctnl.StatusDstNAT | ctnl.StatusDstNATDone
		}),
	}, {
		name: "ICMP source NAT: address only",
		f: kernelFlow(icmpTuple(protoICMP, "198.18.0.42", "198.18.0.43", 8, 0, 99), func(f *ctnl.Flow) {
			f.Reply.Dst = addr("203.0.113.10")
			f.Status |= ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone
		}),
	}, {
		name: "related flow with master, helper, sequence adjustment and labels",
		f: kernelFlow(tuple(protoTCP, "198.51.100.66", "198.51.100.65", 20, 40010), both(tcpState(tcpEstablished), func(f *ctnl.Flow) {
			f.Status |= ctnl.StatusExpected
			f.Master = tuple(protoTCP, "203.0.113.2", "198.51.100.66", 51360, 21)
			f.Helper = "ftp"
			f.Present |= ctnl.HasSeqAdj
			f.SeqAdjOrig = ctnl.SeqAdj{Pos: 1000, OffsetBefore: 0, OffsetAfter: 2}
			f.SeqAdjReply = ctnl.SeqAdj{Pos: 0, OffsetBefore: 0, OffsetAfter: 0}
			f.Labels = labels(1, 40, 127)
		})),
		o:    ConvertOptions{WindowTracking: true},
		want: flags(ctnl.TCPFlagSACKPerm | ctnl.TCPFlagWindowScale),
	}, {
		name: "IPv6 master, unknown helper",
		f: kernelFlow(tuple(protoUDP, "2001:db8::5", "2001:db8::6", 1024, 1025), func(f *ctnl.Flow) {
			f.Master = tuple(protoUDP, "2001:db8::5", "2001:db8::6", 5060, 5060)
			f.Helper = "sip-5061"
		}),
	}, {
		name: "commit timeout: not sent, the receiver's own",
		f:    kernelFlow(tuple(protoUDP, "198.18.0.30", "198.18.0.31", 5353, 53), nil),
		o:    ConvertOptions{CommitTimeout: 30},
		want: func(f *ctnl.Flow) { f.Timeout = 30 },
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var m wire.Message
			m.Type = wire.TypeCTNew
			WireFlow(&m.Flow, &tc.f, tc.o)
			b := wire.AppendMessage(nil, &m)
			var back wire.Message
			if _, err := wire.Decode(b, &back); err != nil {
				t.Fatalf("own message does not decode: %v", err)
			}
			var got ctnl.Flow
			if err := KernelFlow(&got, &back.Flow, tc.o); err != nil {
				t.Fatal(err)
			}
			want := tc.f
			want.ID = 0 // never sent
			if tc.want != nil {
				tc.want(&want)
			}
			want.DeriveNAT()
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("kernel flow after the wire (-want +got):\n%s", diff)
			}
		})
	}
}

// flags sets the TCP flags the receiver adds, in both directions.
func flags(v uint8) func(f *ctnl.Flow) {
	return func(f *ctnl.Flow) {
		f.TCP.FlagsOrig = ctnl.TCPFlags{Flags: v, Mask: v}
		f.TCP.FlagsReply = f.TCP.FlagsOrig
	}
}

// What the receiver makes of messages a legacy peer sends, rule by rule.
func TestKernelFlowRules(t *testing.T) {
	base := func(proto uint8, edit func(w *wire.Flow)) wire.Flow {
		var w wire.Flow
		w.Orig = wire.Tuple{Src: addr("198.18.0.1"), Dst: addr("198.18.0.2"), Proto: proto, SrcPort: 1000, DstPort: 2000}
		w.Set(wire.AttrIPv4)
		w.Set(wire.AttrL4Proto)
		w.Set(wire.AttrPort)
		w.Status = uint32(ctnl.StatusSeenReply | ctnl.StatusAssured)
		w.Set(wire.AttrStatus)
		w.Timeout = 100
		w.Set(wire.AttrTimeout)
		if edit != nil {
			edit(&w)
		}
		return w
	}
	for _, tc := range []struct {
		name  string
		w     wire.Flow
		o     ConvertOptions
		check func(t *testing.T, f *ctnl.Flow)
		err   error
	}{{
		name: "window tracking without the peer's scales: be liberal",
		w: base(protoTCP, func(w *wire.Flow) {
			w.TCPState = 3
			w.Set(wire.AttrTCPState)
		}),
		o: ConvertOptions{WindowTracking: true},
		check: func(t *testing.T, f *ctnl.Flow) {
			want := ctnl.TCPFlags{Flags: ctnl.TCPFlagSACKPerm | ctnl.TCPFlagBeLiberal, Mask: ctnl.TCPFlagSACKPerm | ctnl.TCPFlagBeLiberal}
			if f.TCP.FlagsOrig != want || f.TCP.FlagsReply != want {
				t.Errorf("flags %+v %+v, want %+v both", f.TCP.FlagsOrig, f.TCP.FlagsReply, want)
			}
		},
	}, {
		name: "SYN_SENT2 is not a closing state",
		w: base(protoTCP, func(w *wire.Flow) {
			w.TCPState = 9
			w.Set(wire.AttrTCPState)
		}),
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.TCP.FlagsOrig.Flags&ctnl.TCPFlagCloseInit != 0 {
				t.Errorf("flags %+v: CLOSE_INIT on a simultaneous open", f.TCP.FlagsOrig)
			}
		},
	}, {
		name: "CLOSE closes",
		w: base(protoTCP, func(w *wire.Flow) {
			w.TCPState = 8
			w.Set(wire.AttrTCPState)
		}),
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.TCP.FlagsOrig.Flags&ctnl.TCPFlagCloseInit == 0 || f.TCP.FlagsReply.Flags&ctnl.TCPFlagCloseInit == 0 {
				t.Errorf("flags %+v %+v: no CLOSE_INIT", f.TCP.FlagsOrig, f.TCP.FlagsReply)
			}
		},
	}, {
		name: "TCP without state: no protocol info, no flags",
		w:    base(protoTCP, nil),
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.Present&ctnl.HasProtoInfo != 0 || f.TCP != (ctnl.TCPInfo{}) {
				t.Errorf("protocol info %+v present %v", f.TCP, f.Present)
			}
		},
	}, {
		name: "SCTP without state: stale ports dropped",
		w:    base(protoSCTP, nil),
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.Orig.SrcPort|f.Orig.DstPort != 0 {
				t.Errorf("ports %d %d kept", f.Orig.SrcPort, f.Orig.DstPort)
			}
		},
	}, {
		name: "ports on a protocol without ports are dropped",
		w:    base(protoGRE, nil),
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.Orig.SrcPort|f.Orig.DstPort|f.Reply.SrcPort|f.Reply.DstPort != 0 {
				t.Errorf("ports kept: %v / %v", f.Orig, f.Reply)
			}
		},
	}, {
		name: "a legacy SPAT_PORT on source-NATed ICMP is ignored",
		w: base(protoICMP, func(w *wire.Flow) {
			w.Attrs.Clear(uint8(wire.AttrPort))
			w.ICMPType, w.ICMPID = 8, 0x4321
			w.Set(wire.AttrICMPType)
			w.Set(wire.AttrICMPCode)
			w.Set(wire.AttrICMPID)
			w.Status |= uint32(ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone)
			w.SNAT = addr("203.0.113.5")
			w.Set(wire.AttrSNATIPv4)
			w.SNATPort = 0 // the reply's type and code, 0/0
			w.Set(wire.AttrSPATPort)
		}),
		check: func(t *testing.T, f *ctnl.Flow) {
			want := ctnl.NAT{MinAddr: addr("203.0.113.5"), MaxAddr: addr("203.0.113.5")}
			if f.SNAT != want {
				t.Errorf("SNAT %+v, want %+v", f.SNAT, want)
			}
			if f.Reply.ICMPID != 0x4321 || f.Reply.Dst != addr("203.0.113.5") || f.Reply.ICMPType != 0 {
				t.Errorf("reply %v", f.Reply)
			}
		},
	}, {
		name: "commit timeout replaces the one sent",
		w:    base(protoUDP, nil),
		o:    ConvertOptions{CommitTimeout: 9},
		check: func(t *testing.T, f *ctnl.Flow) {
			if f.Timeout != 9 {
				t.Errorf("timeout %d, want 9", f.Timeout)
			}
		},
	}, {
		name: "all-zero labels are no labels",
		w: base(protoUDP, func(w *wire.Flow) {
			w.LabelWords = 4
			w.Set(wire.AttrLabels)
		}),
		check: func(t *testing.T, f *ctnl.Flow) {
			if len(f.Labels) != 0 {
				t.Errorf("labels %x", f.Labels)
			}
		},
	}, {
		name: "no address",
		w:    wire.Flow{},
		err:  ErrNoAddresses,
	}, {
		name: "IPv6 SNAT on an IPv4 flow",
		w: base(protoUDP, func(w *wire.Flow) {
			w.SNAT = addr("2001:db8::1")
			w.Set(wire.AttrSNATIPv6)
		}),
		err: ErrFamilyMix,
	}, {
		name: "IPv6 master of an IPv4 flow",
		w: base(protoUDP, func(w *wire.Flow) {
			w.Master = wire.Tuple{Src: addr("2001:db8::1"), Dst: addr("2001:db8::2"), Proto: protoUDP}
			w.Set(wire.AttrMasterIPv6)
			w.Set(wire.AttrMasterL4Proto)
		}),
		err: ErrFamilyMix,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var f ctnl.Flow
			err := KernelFlow(&f, &tc.w, tc.o)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil {
				tc.check(t, &f)
			}
		})
	}
}

// What a sender puts on the wire, where conntrackd's rules decide.
func TestWireFlowRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       ctnl.Flow
		o       ConvertOptions
		has     []wire.Attr
		hasNot  []wire.Attr
		checkFn func(t *testing.T, w *wire.Flow)
	}{{
		name:   "TCP: scales only with window tracking",
		f:      kernelFlow(tuple(protoTCP, "198.18.0.1", "198.18.0.2", 1, 2), tcpState(3)),
		has:    []wire.Attr{wire.AttrIPv4, wire.AttrStatus, wire.AttrL4Proto, wire.AttrPort, wire.AttrTCPState, wire.AttrTimeout, wire.AttrMark},
		hasNot: []wire.Attr{wire.AttrTCPWScaleOrig, wire.AttrTCPWScaleRepl, wire.AttrZone, wire.AttrLabels, wire.AttrHelperName, wire.AttrNATSeqAdj, wire.AttrSynproxy},
	}, {
		name:   "commit timeout: no TIMEOUT",
		f:      kernelFlow(tuple(protoUDP, "198.18.0.1", "198.18.0.2", 1, 2), nil),
		o:      ConvertOptions{CommitTimeout: 60},
		hasNot: []wire.Attr{wire.AttrTimeout},
	}, {
		name: "NAT status without a changed reply: no NAT attributes",
		f: kernelFlow(tuple(protoUDP, "198.18.0.1", "198.18.0.2", 1, 2), func(f *ctnl.Flow) {
			f.Status |= ctnl.StatusSrcNATDone | ctnl.StatusDstNATDone
		}),
		hasNot: []wire.Attr{wire.AttrSNATIPv4, wire.AttrDNATIPv4, wire.AttrSPATPort, wire.AttrDPATPort},
	}, {
		name: "changed reply without NAT status: no NAT attributes",
		f: kernelFlow(tuple(protoUDP, "198.18.0.1", "198.18.0.2", 1, 2), func(f *ctnl.Flow) {
			f.Reply.Dst, f.Reply.DstPort = addr("203.0.113.1"), 9
		}),
		hasNot: []wire.Attr{wire.AttrSNATIPv4, wire.AttrSPATPort},
	}, {
		name: "ICMP identifier remapped: no SPAT_PORT",
		f: kernelFlow(icmpTuple(protoICMP, "198.18.0.1", "198.18.0.2", 8, 0, 5), func(f *ctnl.Flow) {
			f.Reply.Dst, f.Reply.ICMPID = addr("203.0.113.1"), 6
			f.Status |= ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone
		}),
		has:    []wire.Attr{wire.AttrSNATIPv4, wire.AttrICMPType, wire.AttrICMPCode, wire.AttrICMPID},
		hasNot: []wire.Attr{wire.AttrSPATPort, wire.AttrPort},
	}, {
		name: "labels: four words with label 127",
		f: kernelFlow(tuple(protoUDP, "198.18.0.1", "198.18.0.2", 1, 2), func(f *ctnl.Flow) {
			f.Labels = labels(0, 127)
		}),
		has: []wire.Attr{wire.AttrLabels},
		checkFn: func(t *testing.T, w *wire.Flow) {
			if w.LabelWords != 4 || !w.Label(0) || !w.Label(127) || w.Label(1) {
				t.Errorf("labels %x in %d words", w.Labels, w.LabelWords)
			}
		},
	}, {
		name:   "zeroed labels: none",
		f:      kernelFlow(tuple(protoUDP, "198.18.0.1", "198.18.0.2", 1, 2), func(f *ctnl.Flow) { f.Labels = make([]byte, 16) }),
		hasNot: []wire.Attr{wire.AttrLabels},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var w wire.Flow
			WireFlow(&w, &tc.f, tc.o)
			for _, a := range tc.has {
				if !w.Has(a) {
					t.Errorf("attribute %d missing", a)
				}
			}
			for _, a := range tc.hasNot {
				if w.Has(a) {
					t.Errorf("attribute %d sent", a)
				}
			}
			if tc.checkFn != nil {
				tc.checkFn(t, &w)
			}
		})
	}
}

// The kernel's label bitmap and the wire's agree label by label, whatever
// the host's word size and byte order.
func TestLabelLayouts(t *testing.T) {
	for b := range 128 {
		var w [wire.LabelBytes]byte
		if !wireLabels(&w, labels(b)) {
			t.Fatalf("label %d: none on the wire", b)
		}
		wf := wire.Flow{Labels: w}
		for o := range 128 {
			if wf.Label(o) != (o == b) {
				t.Fatalf("kernel label %d: wire label %d is %v", b, o, wf.Label(o))
			}
		}
	}
}

// Expectations of TCP, UDP and GRE masters, IPv4 and IPv6, go to the wire
// and back whole; ports of an expected protocol without ports are zero.
func TestConvertExpectRoundTrip(t *testing.T) {
	mask4 := tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff)
	for _, tc := range []struct {
		name string
		e    ctnl.Expect
		want func(e *ctnl.Expect)
	}{{
		name: "FTP",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(protoTCP, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    mask4,
			Timeout: 300, Helper: "ftp", Flags: 0, Class: 0,
		},
	}, {
		name: "SIP over IPv6, UDP expected from a TCP master, flags and class",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "2001:db8::1", "2001:db8::2", 5060, 5060),
			Tuple:   tuple(protoUDP, "2001:db8::2", "2001:db8::1", 0, 16384),
			Mask:    tuple(protoUDP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0xffff),
			Timeout: 180, Helper: "sip", Flags: 1, Class: 2,
		},
	}, {
		name: "expected protocol without ports",
		e: ctnl.Expect{
			Master:  tuple(protoTCP, "198.51.100.1", "198.51.100.2", 36462, 21),
			Tuple:   tuple(156, "198.51.100.2", "198.51.100.1", 0, 40010),
			Mask:    tuple(156, "255.255.255.255", "255.255.255.255", 0, 0xffff),
			Timeout: 300,
		},
		want: func(e *ctnl.Expect) { e.Tuple.DstPort, e.Mask.DstPort = 0, 0 },
	}, {
		name: "zone and ID are not sent",
		e: ctnl.Expect{
			Master: tuple(protoUDP, "198.51.100.1", "198.51.100.2", 1, 69),
			Tuple:  tuple(protoUDP, "198.51.100.2", "198.51.100.1", 0, 1),
			Mask:   mask4, Timeout: 5, Zone: 3, ID: 99, Helper: "tftp",
		},
		want: func(e *ctnl.Expect) { e.Zone, e.ID = 0, 0 },
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var m wire.Message
			m.Type = wire.TypeExpNew
			WireExpect(&m.Exp, &tc.e, ConvertOptions{})
			b := wire.AppendMessage(nil, &m)
			var back wire.Message
			if _, err := wire.Decode(b, &back); err != nil {
				t.Fatalf("own message does not decode: %v", err)
			}
			var got ctnl.Expect
			if err := KernelExpect(&got, &back.Exp, ConvertOptions{}); err != nil {
				t.Fatal(err)
			}
			want := tc.e
			if tc.want != nil {
				tc.want(&want)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("expectation after the wire (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKernelExpectErrors(t *testing.T) {
	var w wire.Expect
	var e ctnl.Expect
	if err := KernelExpect(&e, &w, ConvertOptions{}); !errors.Is(err, ErrNoAddresses) {
		t.Errorf("empty expectation: %v, want %v", err, ErrNoAddresses)
	}
	ok := ctnl.Expect{
		Master: tuple(protoTCP, "198.51.100.1", "198.51.100.2", 1, 21),
		Tuple:  tuple(protoTCP, "2001:db8::2", "2001:db8::1", 0, 1),
		Mask:   tuple(protoTCP, "255.255.255.255", "255.255.255.255", 0, 0xffff),
	}
	WireExpect(&w, &ok, ConvertOptions{})
	if err := KernelExpect(&e, &w, ConvertOptions{}); !errors.Is(err, ErrFamilyMix) {
		t.Errorf("mixed families: %v, want %v", err, ErrFamilyMix)
	}
}

// The filter sees what conntrackd's filter reads: the reply source after
// DNAT, the TCP state only when the kernel reported one.
func TestFilterFlow(t *testing.T) {
	dnat := kernelFlow(tuple(protoTCP, "198.51.100.1", "203.0.113.7", 1000, 80), both(tcpState(3), func(f *ctnl.Flow) {
		f.Reply.Src = addr("198.51.100.99")
		f.Status |= ctnl.StatusDstNAT | ctnl.StatusDstNATDone
	}))
	destroyed := kernelFlow(tuple(protoTCP, "2001:db8::1", "2001:db8::2", 1, 2), nil)
	for _, tc := range []struct {
		name string
		f    ctnl.Flow
		want filter.Flow
	}{{
		name: "DNAT, established",
		f:    dnat,
		want: filter.Flow{Family: filter.FamilyInet, Protocol: protoTCP, OrigSrc: addr("198.51.100.1"), OrigDst: addr("203.0.113.7"), ReplySrc: addr("198.51.100.99"), TCPState: 3, HasTCPState: true},
	}, {
		name: "IPv6 without state",
		f:    destroyed,
		want: filter.Flow{Family: filter.FamilyInet6, Protocol: protoTCP, OrigSrc: addr("2001:db8::1"), OrigDst: addr("2001:db8::2"), ReplySrc: addr("2001:db8::2")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var got filter.Flow
			FilterFlow(&got, &tc.f)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("filter view (-want +got):\n%s", diff)
			}
		})
	}
	// And a chain that ignores the real destination drops the DNAT flow.
	c, err := filter.New(filter.Settings{Stages: []filter.Stage{{Kind: filter.KindAddress, Policy: filter.Ignore, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.99/32")}}}})
	if err != nil {
		t.Fatal(err)
	}
	var v filter.Flow
	FilterFlow(&v, &dnat)
	if c.Pass(&v) {
		t.Error("a flow DNATed to an ignored address passes")
	}
}

// Converting into the same values again allocates nothing, in either
// direction, for a flow with every attribute kind a helper name the
// kernel knows.
func TestConvertAllocs(t *testing.T) {
	f := kernelFlow(tuple(protoTCP, "198.51.100.66", "198.51.100.65", 20, 40010), both(tcpState(3), func(f *ctnl.Flow) {
		f.Master = tuple(protoTCP, "203.0.113.2", "198.51.100.66", 51360, 21)
		f.Helper = "ftp"
		f.Present |= ctnl.HasSeqAdj
		f.Labels = labels(3)
		f.Reply.Dst = addr("203.0.113.1")
		f.Status |= ctnl.StatusSrcNAT | ctnl.StatusSrcNATDone
	}))
	o := ConvertOptions{WindowTracking: true}
	var w wire.Flow
	var k ctnl.Flow
	var v filter.Flow
	buf := make([]byte, 0, 512)
	var m wire.Message
	n := testing.AllocsPerRun(100, func() {
		WireFlow(&m.Flow, &f, o)
		buf = wire.AppendMessage(buf[:0], &m)
		w = m.Flow
		if err := KernelFlow(&k, &w, o); err != nil {
			t.Fatal(err)
		}
		FilterFlow(&v, &k)
	})
	if n != 0 {
		t.Errorf("%v allocations per conversion, want 0", n)
	}
}

func TestSyncConvertOptions(t *testing.T) {
	got := SyncConvertOptions(config.SyncSettings{TCPWindowTracking: true, CommitTimeout: 90 * time.Second})
	if want := (ConvertOptions{WindowTracking: true, CommitTimeout: 90}); got != want {
		t.Errorf("options %+v, want %+v", got, want)
	}
}
