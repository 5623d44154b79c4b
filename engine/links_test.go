package engine

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link"
)

// Every field of config.LinkSettings reaches the field of the same name in
// link.Settings, and only that one: a field added to config without its
// translation, or two fields crossed, fail here. Every field of
// link.Settings has a source in config, so nothing the transports use is
// out of the user's reach.
func TestLinkSettingsCarriesEveryField(t *testing.T) {
	ct := reflect.TypeFor[config.LinkSettings]()
	lt := reflect.TypeFor[link.Settings]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			lf, ok := lt.FieldByName(f.Name)
			if !ok {
				t.Fatalf("link.Settings has no field %s: translate config.LinkSettings.%s to what link uses", f.Name, f.Name)
			}
			var c config.LinkSettings
			v := reflect.ValueOf(&c).Elem().Field(i)
			sample(t, v, i)
			got, err := linkSettings(c)
			if err != nil {
				t.Fatal(err)
			}
			want := reflect.New(lt).Elem()
			w := want.FieldByIndex(lf.Index)
			if f.Type == lf.Type {
				w.Set(v)
			} else {
				// The enums: the same value by name.
				w.Set(reflect.ValueOf(link.TCP))
				if c.Transport.String() != link.TCP.String() {
					t.Fatalf("sample transport %s, want tcp", c.Transport)
				}
			}
			if diff := cmp.Diff(want.Interface(), got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("config.LinkSettings{%s: %v} translated (-want +got):\n%s", f.Name, v, diff)
			}
		})
	}
	for i := range lt.NumField() {
		if name := lt.Field(i).Name; !hasField(ct, name) {
			t.Errorf("link.Settings.%s has no source in config.LinkSettings", name)
		}
	}
}

func hasField(t reflect.Type, name string) bool {
	_, ok := t.FieldByName(name)
	return ok
}

// sample sets v, the i-th field, to a value that is not its zero and that
// no other field gets.
func sample(t *testing.T, v reflect.Value, i int) {
	t.Helper()
	switch v.Interface().(type) {
	case config.Transport:
		v.Set(reflect.ValueOf(config.TransportTCP)) // not the zero transport
	case netip.Addr:
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})))
	case string:
		v.SetString("sample-" + strconv.Itoa(i))
	case bool:
		v.SetBool(true)
	default:
		switch v.Kind() {
		case reflect.Int, reflect.Int64:
			v.SetInt(int64(1000 + i))
		case reflect.Uint16, reflect.Uint64:
			v.SetUint(uint64(1000 + i))
		default:
			t.Fatalf("no sample value for a %s: add one", v.Type())
		}
	}
}

// Every transport config knows (they print as their names, until a number
// past the last) maps to link's transport of the same name.
func TestLinkSettingsTransports(t *testing.T) {
	n := 0
	for i := 0; ; i++ {
		ct := config.Transport(i)
		if ct.String() == strconv.Itoa(i) {
			break
		}
		n++
		s, err := linkSettings(config.LinkSettings{Name: "sync", Transport: ct})
		if err != nil {
			t.Errorf("transport %s: %v", ct, err)
			continue
		}
		if s.Transport.String() != ct.String() {
			t.Errorf("transport %s became link's %s", ct, s.Transport)
		}
	}
	if n != 3 {
		t.Errorf("config has %d transports, want 3 (multicast, udp, tcp)", n)
	}
	_, err := LinkSettings([]config.LinkSettings{{Name: "sync", Transport: 9}})
	if err == nil || !strings.Contains(err.Error(), "link sync: transport 9 is not supported") {
		t.Errorf("an unknown transport: %v, want an error naming the link and the transport", err)
	}
}

// Links as a user writes them reach link as written, with conntrackd's
// defaults (checksum on) where nothing is written.
func TestLinkSettingsFromConfig(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []link.Settings
	}{
		{
			name: "multicast, two links, the second default",
			src: `
link "a" {
  transport         = "multicast"
  interface         = "eth1"
  group             = "225.0.0.50"
  interface_address = "198.51.100.1"
  port              = 3780
  send_buffer       = "1MiB"
  receive_buffer    = "2MiB"
}
link "b" {
  transport = "multicast"
  interface = "eth2"
  group     = "ff02::3780"
  port      = 3781
  checksum  = false
  default   = true
}
`,
			want: []link.Settings{
				{Name: "a", Transport: link.Multicast, Interface: "eth1", Group: addr("225.0.0.50"),
					InterfaceAddress: addr("198.51.100.1"), Port: 3780, SendBuffer: 1 << 20, ReceiveBuffer: 2 << 20, Checksum: true},
				{Name: "b", Transport: link.Multicast, Default: true, Interface: "eth2", Group: addr("ff02::3780"), Port: 3781},
			},
		},
		{
			name: "udp over IPv6",
			src: `
link "u" {
  transport = "udp"
  interface = "eth1"
  local     = "2001:db8::1"
  peer      = "2001:db8::2"
  port      = 3780
}
`,
			want: []link.Settings{
				{Name: "u", Transport: link.UDP, Default: true, Interface: "eth1", Local: addr("2001:db8::1"),
					Peer: addr("2001:db8::2"), Port: 3780, Checksum: true},
			},
		},
		{
			name: "tcp with an error queue",
			src: `
link "t" {
  transport          = "tcp"
  interface          = "eth1"
  peer               = "198.51.100.2"
  port               = 3780
  error_queue_length = 64
}
`,
			want: []link.Settings{
				{Name: "t", Transport: link.TCP, Default: true, Interface: "eth1", Peer: addr("198.51.100.2"),
					Port: 3780, Checksum: true, ErrorQueueLength: 64},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := config.Parse("ctsync.hcl", []byte("sync \"ftfw\" {}\n"+tt.src), config.LoadOptions{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			rt, diags := config.Validate(f, config.ValidateOptions{InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got, err := LinkSettings(rt.Links)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("link settings (-want +got):\n%s", diff)
			}
		})
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
