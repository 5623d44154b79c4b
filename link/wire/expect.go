package wire

// ExpAttr is an expectation attribute type (message types 3-5).
type ExpAttr uint8

const (
	ExpAttrMasterIPv4    ExpAttr = 0  // NTA_EXP_MASTER_IPV4
	ExpAttrMasterIPv6    ExpAttr = 1  // NTA_EXP_MASTER_IPV6
	ExpAttrMasterL4Proto ExpAttr = 2  // NTA_EXP_MASTER_L4PROTO
	ExpAttrMasterPort    ExpAttr = 3  // NTA_EXP_MASTER_PORT
	ExpAttrExpectIPv4    ExpAttr = 4  // NTA_EXP_EXPECT_IPV4
	ExpAttrExpectIPv6    ExpAttr = 5  // NTA_EXP_EXPECT_IPV6
	ExpAttrExpectL4Proto ExpAttr = 6  // NTA_EXP_EXPECT_L4PROTO
	ExpAttrExpectPort    ExpAttr = 7  // NTA_EXP_EXPECT_PORT
	ExpAttrMaskIPv4      ExpAttr = 8  // NTA_EXP_MASK_IPV4
	ExpAttrMaskIPv6      ExpAttr = 9  // NTA_EXP_MASK_IPV6
	ExpAttrMaskL4Proto   ExpAttr = 10 // NTA_EXP_MASK_L4PROTO
	ExpAttrMaskPort      ExpAttr = 11 // NTA_EXP_MASK_PORT
	ExpAttrTimeout       ExpAttr = 12 // NTA_EXP_TIMEOUT
	ExpAttrFlags         ExpAttr = 13 // NTA_EXP_FLAGS
	ExpAttrClass         ExpAttr = 14 // NTA_EXP_CLASS
	ExpAttrNATIPv4       ExpAttr = 15 // NTA_EXP_NAT_IPV4
	ExpAttrNATPort       ExpAttr = 16 // NTA_EXP_NAT_PORT
	ExpAttrNATL4Proto    ExpAttr = 17 // NTA_EXP_NAT_L4PROTO
	ExpAttrNATDir        ExpAttr = 18 // NTA_EXP_NAT_DIR
	ExpAttrHelperName    ExpAttr = 19 // NTA_EXP_HELPER_NAME
	ExpAttrFn            ExpAttr = 20 // NTA_EXP_FN

	// NumExpAttrs is the number of expectation attribute types a 1.4.7
	// receiver knows.
	NumExpAttrs = 21 // NTA_EXP_MAX
)

// Expect is an expectation as carried by EXP NEW/UPDATE/DELETE messages.
// Only the attributes in Attrs are meaningful.
type Expect struct {
	Attrs AttrSet

	Master Tuple // the flow that created the expectation
	Tuple  Tuple // the expected flow
	Mask   Tuple // which bits of Tuple must match
	NAT    Tuple // NAT tuple (IPv4 only on the wire)

	Timeout uint32 // seconds
	Flags   uint32 // NF_CT_EXPECT_* bits
	Class   uint32
	NATDir  uint32

	Helper Name
	Fn     Name // expectation function name, e.g. "nat-follow-master"
}

// Has reports whether the expectation carries attribute a.
func (e *Expect) Has(a ExpAttr) bool { return e.Attrs.Has(uint8(a)) }

// Set marks attribute a present; set its field too.
func (e *Expect) Set(a ExpAttr) { e.Attrs.Set(uint8(a)) }

var expLen = [NumExpAttrs]uint8{
	ExpAttrMasterIPv4: 12, ExpAttrMasterIPv6: 36, ExpAttrMasterL4Proto: 5,
	ExpAttrMasterPort: 8, ExpAttrExpectIPv4: 12, ExpAttrExpectIPv6: 36,
	ExpAttrExpectL4Proto: 5, ExpAttrExpectPort: 8, ExpAttrMaskIPv4: 12,
	ExpAttrMaskIPv6: 36, ExpAttrMaskL4Proto: 5, ExpAttrMaskPort: 8,
	ExpAttrTimeout: 8, ExpAttrFlags: 8, ExpAttrClass: 8, ExpAttrNATIPv4: 12,
	ExpAttrNATPort: 8, ExpAttrNATL4Proto: 5, ExpAttrNATDir: 8,
}

// expOrder is the emission order of src/build.c (NAT protocol before NAT
// ports).
var expOrder = [NumExpAttrs]ExpAttr{
	ExpAttrMasterIPv4, ExpAttrMasterIPv6, ExpAttrMasterL4Proto, ExpAttrMasterPort,
	ExpAttrExpectIPv4, ExpAttrExpectIPv6, ExpAttrExpectL4Proto, ExpAttrExpectPort,
	ExpAttrMaskIPv4, ExpAttrMaskIPv6, ExpAttrMaskL4Proto, ExpAttrMaskPort,
	ExpAttrTimeout, ExpAttrFlags, ExpAttrClass,
	ExpAttrNATIPv4, ExpAttrNATL4Proto, ExpAttrNATPort, ExpAttrNATDir,
	ExpAttrHelperName, ExpAttrFn,
}

func (e *Expect) decode(body []byte, base int) error {
	*e = Expect{}
	return walk(body, base, NumExpAttrs, e.set)
}

// tuple maps the address/proto/port attributes of one tuple group
// (four consecutive types starting at a multiple of 4) to its Tuple.
func (e *Expect) tuple(a ExpAttr) *Tuple {
	switch {
	case a <= ExpAttrMasterPort:
		return &e.Master
	case a <= ExpAttrExpectPort:
		return &e.Tuple
	default:
		return &e.Mask
	}
}

func (e *Expect) set(a uint8, p []byte, off int) error {
	switch ExpAttr(a) {
	case ExpAttrHelperName, ExpAttrFn:
		limit := helperMaxLen
		if ExpAttr(a) == ExpAttrFn {
			limit = expFnMaxLen
		}
		if len(p)+4 > limit {
			return errAt(ErrAttrLen, off, int(a), "length %d, at most %d", len(p)+4, limit)
		}
		if ExpAttr(a) == ExpAttrFn {
			e.Fn.setC(p, limit-5)
		} else {
			e.Helper.setC(p, limit-5)
		}
		e.Attrs.Set(a)
		return nil
	}
	if want := int(expLen[a]); len(p)+4 != want {
		return badLen(a, off, len(p)+4, want)
	}
	switch x := ExpAttr(a); x {
	case ExpAttrMasterIPv4, ExpAttrExpectIPv4, ExpAttrMaskIPv4:
		t := e.tuple(x)
		t.Src, t.Dst = addr4(p), addr4(p[4:])
		e.Attrs.Clear(a + 1)
	case ExpAttrMasterIPv6, ExpAttrExpectIPv6, ExpAttrMaskIPv6:
		t := e.tuple(x)
		t.Src, t.Dst = addr16(p), addr16(p[16:])
		e.Attrs.Clear(a - 1)
	case ExpAttrMasterL4Proto, ExpAttrExpectL4Proto, ExpAttrMaskL4Proto:
		e.tuple(x).Proto = p[0]
	case ExpAttrMasterPort, ExpAttrExpectPort, ExpAttrMaskPort:
		t := e.tuple(x)
		t.SrcPort, t.DstPort = be.Uint16(p), be.Uint16(p[2:])
	case ExpAttrTimeout:
		e.Timeout = be.Uint32(p)
	case ExpAttrFlags:
		e.Flags = be.Uint32(p)
	case ExpAttrClass:
		e.Class = be.Uint32(p)
	case ExpAttrNATIPv4:
		e.NAT.Src, e.NAT.Dst = addr4(p), addr4(p[4:])
	case ExpAttrNATPort:
		e.NAT.SrcPort, e.NAT.DstPort = be.Uint16(p), be.Uint16(p[2:])
	case ExpAttrNATL4Proto:
		e.NAT.Proto = p[0]
	case ExpAttrNATDir:
		e.NATDir = be.Uint32(p)
	}
	e.Attrs.Set(a)
	return nil
}

func (e *Expect) append(b []byte) []byte {
	for _, x := range expOrder {
		a := uint8(x)
		if !e.Attrs.Has(a) {
			continue
		}
		switch x {
		case ExpAttrMasterIPv4, ExpAttrExpectIPv4, ExpAttrMaskIPv4:
			t := e.tuple(x)
			b = appendAddrs4(b, a, t.Src, t.Dst)
		case ExpAttrMasterIPv6, ExpAttrExpectIPv6, ExpAttrMaskIPv6:
			t := e.tuple(x)
			b = appendAddrs16(b, a, t.Src, t.Dst)
		case ExpAttrMasterL4Proto, ExpAttrExpectL4Proto, ExpAttrMaskL4Proto:
			b = appendU8(b, a, e.tuple(x).Proto)
		case ExpAttrMasterPort, ExpAttrExpectPort, ExpAttrMaskPort:
			t := e.tuple(x)
			b = appendPorts(b, a, t.SrcPort, t.DstPort)
		case ExpAttrTimeout:
			b = appendU32(b, a, e.Timeout)
		case ExpAttrFlags:
			b = appendU32(b, a, e.Flags)
		case ExpAttrClass:
			b = appendU32(b, a, e.Class)
		case ExpAttrNATIPv4:
			b = appendAddrs4(b, a, e.NAT.Src, e.NAT.Dst)
		case ExpAttrNATPort:
			b = appendPorts(b, a, e.NAT.SrcPort, e.NAT.DstPort)
		case ExpAttrNATL4Proto:
			b = appendU8(b, a, e.NAT.Proto)
		case ExpAttrNATDir:
			b = appendU32(b, a, e.NATDir)
		case ExpAttrHelperName:
			b = appendName(b, a, &e.Helper, helperMaxLen)
		case ExpAttrFn:
			b = appendName(b, a, &e.Fn, expFnMaxLen)
		}
	}
	return b
}
