package migrate

import (
	"strings"
	"testing"
)

// TestMigrateHeaderWarnings: the output's "Warnings:" list carries what is
// true of the legacy file, and is left out when every warning was only true
// of this host (an interface it lacks), rather than written empty.
func TestMigrateHeaderWarnings(t *testing.T) {
	const link = "Sync {\n Mode FTFW {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth9\n }\n}\n"
	tests := []struct {
		name         string
		src          string
		hasInterface bool
		want         []string // lines of the header, in order
		wantNot      string
	}{
		{"host-dependent warnings only", link, false, []string{"# Migrated from t.conf by ctsync migrate.\n\nsync"}, "Warnings"},
		{"no warning", link, true, []string{"# Migrated from t.conf by ctsync migrate.\n\nsync"}, "Warnings"},
		{"a warning about the file", "General {\n Nice -1\n}\n" + link, false,
			[]string{"# Warnings:\n", "# t.conf:2:2: warning: Nice"}, "interface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, diags := Migrate("t.conf", []byte(tt.src), MigrateOptions{InterfaceExists: func(string) bool { return tt.hasInterface }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			absent := false
			for _, d := range diags {
				absent = absent || d.Code == "interface-absent"
			}
			if absent == tt.hasInterface {
				t.Errorf("interface-absent warning given: %v, want %v (%v)", absent, !tt.hasInterface, diags)
			}
			rest := string(out)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks (or misorders) %q:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if header, _, _ := strings.Cut(string(out), "\nsync"); strings.Contains(header, tt.wantNot) {
				t.Errorf("header has %q:\n%s", tt.wantNot, header)
			}
		})
	}
}

// TestLinkNames: links are named for their role, as an operator would name
// a redundant pair: the one conntrackd uses at start (Default, else the
// first) is "primary", the fail-over links "backup", "backup2", ...
func TestLinkNames(t *testing.T) {
	udp := func(iface, extra string) string {
		return " UDP " + extra + "{\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface " + iface + "\n }\n"
	}
	tests := []struct {
		name  string
		links string
		want  []string // link names in file order
	}{
		{"one link", udp("ens7f1.57", ""), []string{"primary"}},
		{"first is the default", udp("eth1", "") + udp("eth2", ""), []string{"primary", "backup"}},
		{"Default marks the primary", udp("eth1", "") + udp("eth2", "Default ") + udp("eth3", ""), []string{"backup", "primary", "backup2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lf, diags := Parse("t.conf", []byte("Sync {\n Mode FTFW {\n }\n"+tt.links+"}\n"), Options{Dialect: DialectLenient, InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			f, _, cds := Convert(lf)
			if cds.HasErrors() {
				t.Fatal(cds)
			}
			var got []string
			for _, l := range f.Links {
				got = append(got, l.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("links named %v, want %v", got, tt.want)
			}
		})
	}
}
