package kbpf

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/ctsync/ctsync/filter"
)

// run interprets prog on pkt as the kernel does for the instructions this
// package emits, including the netlink extensions x/net/bpf's VM lacks
// (net/core/filter.c: bpf_skb_get_nlattr, bpf_skb_get_nlattr_nest). It lets
// tests without root run programs; TestKernelFilter's table runs both here
// and in the kernel, which keeps the two honest. ok is false for an
// instruction outside that set.
func run(prog []bpf.RawInstruction, pkt []byte) (verdict uint32, ok bool) {
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if uint64(off)+uint64(size) > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case 1:
			return uint32(pkt[off]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return binary.BigEndian.Uint32(pkt[off:]), true
	}
	sizes := map[uint16]int{0x00: 4, 0x08: 2, 0x10: 1}
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch op := ins.Op; {
		case op == 0x00: // ld #k
			a = ins.K
		case op == 0x01: // ldx #k
			x = ins.K
		case op&0xe7 == 0x20: // ld [k] (ancillary when k >= SKF_AD_OFF)
			switch ins.K {
			case skfAdOff + skfAdNlattr:
				a = nlattr(pkt, a, x)
			case skfAdOff + skfAdNlattrNest:
				a = nlattrNest(pkt, a, x)
			default:
				v, in := load(ins.K, sizes[op&0x18])
				if !in {
					return 0, true // the kernel drops on an out-of-bounds load
				}
				a = v
			}
		case op&0xe7 == 0x40: // ld [x + k]
			v, in := load(x+ins.K, sizes[op&0x18])
			if !in {
				return 0, true
			}
			a = v
		case op == 0x04: // add #k
			a += ins.K
		case op == 0x54: // and #k
			a &= ins.K
		case op == 0x07: // tax
			x = a
		case op == 0x05: // ja
			pc += int(ins.K)
		case op == 0x15: // jeq #k
			if a == ins.K {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case op == 0x06: // ret #k
			return ins.K, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// nlaFind returns the offset of the first attribute of type typ among the
// attributes in pkt[from:to], or 0 (nla_find).
func nlaFind(pkt []byte, from, to int, typ uint32) uint32 {
	for from+4 <= to {
		l := int(binary.LittleEndian.Uint16(pkt[from:]))
		if l < 4 || from+l > to {
			return 0
		}
		if uint32(binary.LittleEndian.Uint16(pkt[from+2:])&0x3fff) == typ {
			return uint32(from)
		}
		from += (l + 3) &^ 3
	}
	return 0
}

// nlattr searches from offset a to the end of the message.
func nlattr(pkt []byte, a, x uint32) uint32 {
	if uint64(a)+4 > uint64(len(pkt)) {
		return 0
	}
	return nlaFind(pkt, int(a), len(pkt), x)
}

// nlattrNest searches inside the attribute at offset a.
func nlattrNest(pkt []byte, a, x uint32) uint32 {
	if uint64(a)+4 > uint64(len(pkt)) {
		return 0
	}
	l := int(binary.LittleEndian.Uint16(pkt[a:]))
	if l < 4 || int(a)+l > len(pkt) {
		return 0
	}
	return nlaFind(pkt, int(a)+4, int(a)+l, x)
}

// event encodes f as the kernel's ctnetlink NEW event: the attributes a
// filter program can meet, in the order ctnetlink_conntrack_event writes
// them. ports are the original source and destination ports.
func event(f filter.Flow, replyDst netip.Addr, sport, dport uint16) []byte {
	const nested = 0x8000
	attr := func(typ uint16, payload []byte) []byte {
		b := binary.LittleEndian.AppendUint16(nil, uint16(4+len(payload)))
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	tuple := func(typ uint16, src, dst netip.Addr, sp, dp uint16) []byte {
		var ip []byte
		if src.Is4() {
			ip = cat(attr(ctaIPv4Src, src.AsSlice()), attr(ctaIPv4Dst, dst.AsSlice()))
		} else {
			ip = cat(attr(ctaIPv6Src, src.AsSlice()), attr(ctaIPv6Dst, dst.AsSlice()))
		}
		proto := attr(ctaProtoNum, []byte{f.Protocol})
		if f.Protocol == 6 || f.Protocol == 17 {
			proto = cat(proto, attr(2, be16(sp)), attr(3, be16(dp)))
		}
		return attr(typ|nested, cat(attr(ctaTupleIP|nested, ip), attr(ctaTupleProt|nested, proto)))
	}
	body := cat(
		tuple(ctaTupleOrig, f.OrigSrc, f.OrigDst, sport, dport),
		tuple(2, f.ReplySrc, replyDst, dport, sport), // CTA_TUPLE_REPLY
		attr(3, be32(0x188)),                         // CTA_STATUS
		attr(7, be32(100)),                           // CTA_TIMEOUT
	)
	if f.HasTCPState {
		tcp := cat(attr(ctaTCPState, []byte{uint8(f.TCPState)}), attr(2, []byte{7}), attr(3, []byte{7}))
		body = cat(body, attr(ctaProtoinfo|nested, attr(ctaProtoTCP|nested, tcp)))
	}
	body = cat(body, attr(12, be32(0x1234)), attr(8, be32(0))) // CTA_ID, CTA_MARK
	msg := binary.LittleEndian.AppendUint32(nil, uint32(20+len(body)))
	msg = binary.LittleEndian.AppendUint16(msg, subsysCTNetlink<<8) // IPCTNL_MSG_CT_NEW
	msg = binary.LittleEndian.AppendUint16(msg, 0)
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	msg = append(msg, f.Family, 0, 0, 0) // struct nfgenmsg
	return append(msg, body...)
}

// vmPassed returns the ids of the entries prog passes, run by the
// interpreter.
func vmPassed(t *testing.T, prog []bpf.RawInstruction, entries []entry) []uint16 {
	t.Helper()
	var ids []uint16
	for _, e := range entries {
		f := e.flow()
		v, ok := run(prog, event(f, f.OrigSrc, e.id, 80))
		if !ok {
			t.Fatalf("the interpreter cannot run the program")
		}
		if v != 0 {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func TestVMFilter(t *testing.T) {
	for _, tt := range kernelCases {
		t.Run(tt.name, func(t *testing.T) {
			s := filter.Settings{Stages: tt.stages}
			prog, err := Compile(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := vmPassed(t, assemble(t, prog), zoo); !slices.Equal(got, tt.want) {
				t.Errorf("entries %v pass, want %v", got, tt.want)
			}
			// The definition agrees with the table.
			var spec []uint16
			for _, e := range zoo {
				if specPass(s, e.flow()) {
					spec = append(spec, e.id)
				}
			}
			if !slices.Equal(spec, tt.want) {
				t.Errorf("specPass keeps %v, the table %v", spec, tt.want)
			}
		})
	}
}

func TestVMConntrackdDefects(t *testing.T) {
	for _, tt := range defectCases {
		t.Run(tt.golden, func(t *testing.T) {
			e := slices.DeleteFunc(slices.Clone(zoo), func(z entry) bool { return z.id != tt.entry })
			if got := len(vmPassed(t, readStrace(t, tt.golden), e)) == 1; got != tt.conntrackd {
				t.Errorf("conntrackd's program: entry %d passes: %v, want %v", tt.entry, got, tt.conntrackd)
			}
			prog, err := Compile(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(vmPassed(t, assemble(t, prog), e)) == 1; got != tt.ours {
				t.Errorf("Compile's program: entry %d passes: %v, want %v", tt.entry, got, tt.ours)
			}
		})
	}
}

// TestVMMatchesSpec runs random chains on random flows and compares the
// program's verdict with specPass.
func TestVMMatchesSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	addr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			b[5], b[15] = byte(r.IntN(3)), byte(r.IntN(4))
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(3)), byte(r.IntN(4))})
	}
	protos := []uint8{1, 6, 17, 58, 132}
	for round := range 3000 {
		var s filter.Settings
		for range 1 + r.IntN(3) {
			st := filter.Stage{Kind: filter.Kind(r.IntN(3)), Policy: filter.Policy(r.IntN(2))}
			switch st.Kind {
			case filter.KindProtocol:
				for range 1 + r.IntN(3) {
					st.Protocols = append(st.Protocols, protos[r.IntN(len(protos))])
				}
			case filter.KindTCPState:
				for range 1 + r.IntN(3) {
					st.TCPStates = append(st.TCPStates, filter.TCPState(1+r.IntN(9)))
				}
			case filter.KindAddress:
				for range 1 + r.IntN(6) {
					a := addr(r.IntN(2) == 0)
					bits := a.BitLen() - r.IntN(4)
					if r.IntN(8) == 0 {
						bits = r.IntN(a.BitLen() + 1)
					}
					st.Prefixes = append(st.Prefixes, netip.PrefixFrom(a, bits))
				}
			}
			s.Stages = append(s.Stages, st)
		}
		prog, err := Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		raw := assemble(t, prog)
		for range 20 {
			v6 := r.IntN(2) == 0
			f := filter.Flow{Family: filter.FamilyInet, Protocol: protos[r.IntN(len(protos))],
				OrigSrc: addr(v6), OrigDst: addr(v6), ReplySrc: addr(v6)}
			if v6 {
				f.Family = filter.FamilyInet6
			}
			if f.Protocol == 6 && r.IntN(4) != 0 {
				f.TCPState, f.HasTCPState = filter.TCPState(1+r.IntN(9)), true
			}
			v, ok := run(raw, event(f, f.OrigSrc, 1000, 80))
			if !ok {
				t.Fatal("the interpreter cannot run the program")
			}
			if got, want := v != 0, specPass(s, f); got != want {
				t.Fatalf("round %d: %s: program passes %v, spec %v", round, describe(s, f), got, want)
			}
		}
	}
}

func describe(s filter.Settings, f filter.Flow) string {
	return fmt.Sprintf("stages %+v, flow %+v", s.Stages, f)
}
