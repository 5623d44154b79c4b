package link

import (
	"net/netip"
	"reflect"
	"strconv"
	"testing"
)

// Open hands each transport every field of its Config from the Settings
// field of the same name, and nothing else; and every Settings field but
// Transport and Default (which Open and OpenGroup use themselves) is used
// by some transport. A field added to a transport's Config, or to
// Settings, without its copy in Open fails here.
func TestSettingsReachTransports(t *testing.T) {
	configs := map[Transport]func(Settings) any{
		Multicast: func(s Settings) any { return s.multicast() },
		UDP:       func(s Settings) any { return s.udp() },
		TCP:       func(s Settings) any { return s.tcp() },
	}
	st := reflect.TypeFor[Settings]()
	used := map[string]bool{"Transport": true, "Default": true}
	for tr, config := range configs {
		ct := reflect.TypeOf(config(Settings{}))
		for i := range ct.NumField() {
			name := ct.Field(i).Name
			used[name] = true
			sf, ok := st.FieldByName(name)
			if !ok {
				t.Errorf("%s: %s.%s has no field in Settings", tr, ct, name)
				continue
			}
			var s Settings
			v := reflect.ValueOf(&s).Elem().FieldByIndex(sf.Index)
			setSample(t, v, i)
			got := reflect.ValueOf(config(s))
			want := reflect.New(ct).Elem()
			want.Field(i).Set(v)
			if !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Errorf("%s: Settings{%s: %v} gave %+v, want %+v", tr, name, v, got, want)
			}
		}
	}
	for i := range st.NumField() {
		if name := st.Field(i).Name; !used[name] {
			t.Errorf("Settings.%s reaches no transport", name)
		}
	}
}

// setSample sets v to a value other than its zero.
func setSample(t *testing.T, v reflect.Value, i int) {
	t.Helper()
	switch v.Interface().(type) {
	case netip.Addr:
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})))
	case string:
		v.SetString("sample-" + strconv.Itoa(i))
	case bool:
		v.SetBool(true)
	default:
		switch v.Kind() {
		case reflect.Int:
			v.SetInt(int64(1000 + i))
		case reflect.Uint16, reflect.Uint64:
			v.SetUint(uint64(1000 + i))
		default:
			t.Fatalf("no sample value for a %s: add one", v.Type())
		}
	}
}

// An unknown transport is an error naming the link, not a crash.
func TestOpenUnknownTransport(t *testing.T) {
	l, err := Open(Settings{Name: "sync", Transport: 7})
	if l != nil || err == nil || err.Error() != "link sync: unknown transport(7)" {
		t.Errorf("Open(transport 7) = %v, %v; want nil and %q", l, err, "link sync: unknown transport(7)")
	}
}
