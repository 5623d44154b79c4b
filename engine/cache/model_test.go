package cache

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// model is the obvious implementation of the cache semantics, a map, that
// the real one must agree with after every operation.
type model struct {
	objs     map[Key]*mobj
	limit    int
	lifetime time.Duration
	stats    Stats
}

type mobj struct {
	flow             Flow
	state            State
	created, updated time.Time
}

// normalize is what reading back f must give: only attributes in Has.
func normalize(f Flow) Flow {
	h := f.Has & allAttrs
	n := Flow{Orig: f.Orig, Zone: f.Zone, Has: h}
	if h&HasStatus != 0 {
		n.Status = f.Status
	}
	if h&HasTimeout != 0 {
		n.Timeout = f.Timeout
	}
	if h&HasMark != 0 {
		n.Mark = f.Mark
	}
	if h&HasTCPState != 0 {
		n.TCPState = f.TCPState
	}
	if h&HasTCPWScale != 0 {
		n.TCPWScaleOrig, n.TCPWScaleReply = f.TCPWScaleOrig, f.TCPWScaleReply
	}
	if h&HasSCTPState != 0 {
		n.SCTPState = f.SCTPState
	}
	if h&HasSCTPVTags != 0 {
		n.SCTPVTagOrig, n.SCTPVTagReply = f.SCTPVTagOrig, f.SCTPVTagReply
	}
	if h&HasDCCPState != 0 {
		n.DCCPState = f.DCCPState
	}
	if h&HasDCCPRole != 0 {
		n.DCCPRole = f.DCCPRole
	}
	if h&HasMaster != 0 {
		n.Master = f.Master
	}
	if h&HasSNAT != 0 {
		n.SNAT = f.SNAT
	}
	if h&HasDNAT != 0 {
		n.DNAT = f.DNAT
	}
	if h&HasSNATPort != 0 {
		n.SNATPort = f.SNATPort
	}
	if h&HasDNATPort != 0 {
		n.DNATPort = f.DNATPort
	}
	if h&HasSeqAdj != 0 {
		n.SeqAdj = f.SeqAdj
	}
	if h&HasSynproxy != 0 {
		n.Synproxy = f.Synproxy
	}
	if h&HasHelper != 0 {
		n.Helper = f.Helper
	}
	if h&HasLabels != 0 {
		n.Labels = f.Labels
	}
	return n
}

// merge is what an update of old by f must leave: f's attributes and
// those of old that f lacks. Each attribute has fields of its own, zero
// once normalized without it, so each field comes from whichever side
// holds it.
func merge(old, f Flow) Flow {
	kept := old
	kept.Has &^= f.Has
	k, u := normalize(kept), normalize(f)
	kv, uv := reflect.ValueOf(&k).Elem(), reflect.ValueOf(u)
	for i := range kv.NumField() {
		if !uv.Field(i).IsZero() {
			kv.Field(i).Set(uv.Field(i))
		}
	}
	k.Has = kept.Has&allAttrs | u.Has
	return k
}

func (m *model) add(f Flow, now time.Time) Outcome {
	if len(m.objs) >= m.limit {
		m.stats.CreateFailed++
		m.stats.CreateNoSpace++
		return Refused
	}
	m.objs[f.Key()] = &mobj{flow: normalize(f), state: New, created: now, updated: now}
	m.stats.Created++
	m.stats.Active++
	return Created
}

func (m *model) drop(k Key) {
	if m.objs[k].state != Dead {
		m.stats.Destroyed++
		m.stats.Active--
	}
	delete(m.objs, k)
}

func (m *model) update(f Flow, now time.Time) Outcome {
	if o, ok := m.objs[f.Key()]; ok {
		if o.state != Dead {
			o.flow, o.state, o.updated = merge(o.flow, f), Alive, now
			m.stats.Updated++
			return Updated
		}
		delete(m.objs, f.Key())
	}
	return m.add(f, now)
}

func (m *model) replace(f Flow, now time.Time) Outcome {
	if _, ok := m.objs[f.Key()]; ok {
		m.drop(f.Key())
	}
	return m.add(f, now)
}

func (m *model) kill(k Key) bool {
	o, ok := m.objs[k]
	if !ok {
		m.stats.DestroyFailed++
		m.stats.DestroyNotFound++
		return false
	}
	if o.state == Dead {
		return false
	}
	o.state = Dead
	m.stats.Destroyed++
	m.stats.Active--
	return true
}

func (m *model) delete(k Key) bool {
	if _, ok := m.objs[k]; !ok {
		m.stats.DestroyFailed++
		m.stats.DestroyNotFound++
		return false
	}
	m.drop(k)
	return true
}

func (m *model) flush() {
	for k := range m.objs {
		m.drop(k)
	}
	m.stats.Flushes++
}

func (m *model) expire(now time.Time) int {
	if m.lifetime <= 0 {
		return 0
	}
	n := 0
	for k, o := range m.objs {
		if !o.updated.Add(m.lifetime).After(now) {
			m.drop(k)
			n++
		}
	}
	return n
}

// opSource feeds the operations: random in the property test, the
// fuzzer's bytes in the fuzz target.
type opSource interface{ next() byte }

type randSource struct{ r *rand.Rand }

func (s randSource) next() byte { return byte(s.r.Uint32()) }

type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

// genFlow makes a flow from a small key space (so keys collide) with
// random attributes.
func genFlow(src opSource) Flow {
	b := src.next()
	var addr netip.Addr
	if b&0x80 != 0 {
		addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: b & 7})
	} else {
		addr = netip.AddrFrom4([4]byte{198, 51, 100, b & 7})
	}
	f := Flow{
		Orig: Tuple{Src: addr, Dst: addr, Proto: 6 + 11*(b>>3&1), SrcPort: uint16(b >> 4 & 3)},
		Zone: uint16(b >> 6 & 1),
		Has:  Attrs(src.next()) | Attrs(src.next())<<8 | Attrs(src.next())<<16,
	}
	v := src.next()
	f.Status, f.Timeout, f.Mark = uint32(v), uint32(v)+1, uint32(v)+2
	f.TCPState, f.TCPWScaleOrig, f.TCPWScaleReply = v, v+1, v+2
	f.SCTPState, f.SCTPVTagOrig, f.SCTPVTagReply = v+3, uint32(v)+4, uint32(v)+5
	f.DCCPState, f.DCCPRole = v+6, v+7
	f.Master = Tuple{Src: addr, Proto: 6, DstPort: uint16(v)}
	f.SNAT = netip.AddrFrom4([4]byte{203, 0, 113, v})
	f.DNAT = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: v})
	f.SNATPort, f.DNATPort = uint16(v)+8, uint16(v)+9
	f.SeqAdj = [6]uint32{uint32(v)}
	f.Synproxy = [3]uint32{2: uint32(v)}
	f.Helper = MakeName(string(rune('a' + v%26)))
	f.Labels = [16]byte{v}
	return f
}

func runModel(t *testing.T, src opSource, ops int) {
	t.Helper()
	s := Settings{Limit: 1 + int(src.next()%40), Buckets: int(src.next() % 16)}
	if src.next()&1 != 0 {
		s.Lifetime = time.Duration(1+src.next()%20) * time.Second
	}
	c, err := NewFlows(s)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{objs: map[Key]*mobj{}, limit: s.Limit, lifetime: s.Lifetime}
	now := epoch
	for i := range ops {
		op := src.next() % 16
		now = now.Add(time.Duration(src.next()%4) * time.Second)
		var got, want any
		switch {
		case op < 6:
			f := genFlow(src)
			_, o := c.Update(&f, now)
			got, want = o, m.update(f, now)
		case op < 8:
			f := genFlow(src)
			_, o := c.Replace(&f, now)
			got, want = o, m.replace(f, now)
		case op < 10:
			f := genFlow(src)
			_, ok := c.Kill(f.Key())
			got, want = ok, m.kill(f.Key())
		case op < 11:
			f := genFlow(src)
			got, want = c.Delete(f.Key()), m.delete(f.Key())
		case op < 13:
			// A sync mode removing a dead object after its DEL went out.
			f := genFlow(src)
			r, ok := c.Find(f.Key())
			got = ok && c.Remove(r)
			_, want = m.objs[f.Key()]
			if want.(bool) {
				m.drop(f.Key())
			}
		case op < 14:
			if src.next()%8 == 0 {
				c.Flush()
				m.flush()
			}
		default:
			got, want = c.Expire(now), m.expire(now)
		}
		if got != want {
			t.Fatalf("op %d (%d): got %v, want %v", i, op, got, want)
		}
		compare(t, i, c, m)
	}
}

func compare(t *testing.T, i int, c *Flows, m *model) {
	t.Helper()
	st := m.stats
	st.Objects = uint64(len(m.objs))
	if c.Stats() != st {
		t.Fatalf("op %d: stats\n got %+v\nwant %+v", i, c.Stats(), st)
	}
	if c.Len() != len(m.objs) {
		t.Fatalf("op %d: Len %d, want %d", i, c.Len(), len(m.objs))
	}
	n := 0
	for r, e := range c.All() {
		n++
		o, ok := m.objs[e.Flow.Key()]
		if !ok {
			t.Fatalf("op %d: cache holds %v, the model does not", i, e.Flow.Key())
		}
		if e.Flow != o.flow || e.State != o.state || !e.Created.Equal(o.created) || !e.Updated.Equal(o.updated) {
			t.Fatalf("op %d: %v\n got %+v %v %v %v\nwant %+v %v %v %v", i, e.Flow.Key(),
				e.Flow, e.State, e.Created, e.Updated, o.flow, o.state, o.created, o.updated)
		}
		if f, ok := c.Find(e.Flow.Key()); !ok || f != r {
			t.Fatalf("op %d: Find(%v) = %v %v, All gave %v", i, e.Flow.Key(), f, ok, r)
		}
	}
	if n != len(m.objs) {
		t.Fatalf("op %d: All visits %d objects, want %d", i, n, len(m.objs))
	}
}

func TestFlowsAgainstModel(t *testing.T) {
	for seed := range uint64(40) {
		t.Run("", func(t *testing.T) {
			runModel(t, randSource{rand.New(rand.NewPCG(seed, 8))}, 1500)
		})
	}
}

// FuzzCacheAgainstModel drives the cache and the model with the fuzzer's bytes.
func FuzzCacheAgainstModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 5, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2})
	f.Add([]byte{1, 8, 1, 9, 0, 0, 0x81, 0xff, 0xff, 0xff, 7, 9, 0, 0x81, 0, 0, 0, 0, 15, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		runModel(t, &byteSource{b: data}, len(data)/4)
	})
}
