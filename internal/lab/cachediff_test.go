package lab

import (
	"strings"
	"testing"
)

func TestDiffCaches(t *testing.T) {
	const (
		a      = `{"family":"ipv4","proto":"tcp","protonum":6,"state":"ESTABLISHED","orig":{"src":"198.18.0.1","dst":"198.19.255.254","sport":10000,"dport":80},"reply":{"src":"198.19.255.254","dst":"198.18.0.1","sport":80,"dport":10000},"timeout":600,"zone":0,"entry":"alive","age":3,"idle":1}`
		aLocal = `{"family":"ipv4","proto":"tcp","protonum":6,"state":"ESTABLISHED","orig":{"src":"198.18.0.1","dst":"198.19.255.254","sport":10000,"dport":80},"reply":{"src":"198.19.255.254","dst":"198.18.0.1","sport":80,"dport":10000},"timeout":120,"zone":0,"entry":"new","age":0,"idle":0,"expires_in":30}`
		aMark  = `{"family":"ipv4","proto":"tcp","protonum":6,"state":"ESTABLISHED","orig":{"src":"198.18.0.1","dst":"198.19.255.254","sport":10000,"dport":80},"reply":{"src":"198.19.255.254","dst":"198.18.0.1","sport":80,"dport":10000},"mark":7,"zone":0}`
		aOrder = `{"proto":"tcp","family":"ipv4","protonum":6,"state":"ESTABLISHED","orig":{"dst":"198.19.255.254","src":"198.18.0.1","dport":80,"sport":10000},"reply":{"dport":10000,"src":"198.19.255.254","dst":"198.18.0.1","sport":80},"zone":0}`
		b      = `{"family":"ipv6","proto":"udp","protonum":17,"orig":{"src":"2001:db8:1::10","dst":"2001:db8:2::10","sport":5000,"dport":53},"reply":{"src":"2001:db8:2::10","dst":"2001:db8:1::10","sport":53,"dport":5000},"zone":3}`
		icmp   = `{"family":"ipv4","proto":"icmp","protonum":1,"orig":{"src":"198.51.100.10","dst":"203.0.113.10","type":8,"code":0,"id":42},"reply":{"src":"203.0.113.10","dst":"198.51.100.10","type":0,"code":0,"id":42},"zone":0}`
	)
	for _, tc := range []struct {
		name                      string
		primary, backup           []string
		ignore                    []string
		missing, extra, different []string
	}{
		{name: "same", primary: []string{a, b, icmp}, backup: []string{icmp, a, b}},
		{name: "local fields and key order ignored", primary: []string{a}, backup: []string{aLocal}},
		{name: "key order", primary: []string{a}, backup: []string{aOrder}},
		{name: "missing", primary: []string{a, b}, backup: []string{a},
			missing: []string{"udp [2001:db8:1::10]:5000 -> [2001:db8:2::10]:53 zone 3"}},
		{name: "extra", primary: []string{a}, backup: []string{a, icmp},
			extra: []string{"icmp 198.51.100.10 -> 203.0.113.10 type=8 code=0 id=42"}},
		{name: "mark differs", primary: []string{a}, backup: []string{aMark},
			different: []string{"tcp 198.18.0.1:10000 -> 198.19.255.254:80: mark primary (none) backup 7"}},
		{name: "mark ignored", primary: []string{a}, backup: []string{aMark}, ignore: []string{"mark"}},
		{name: "empty", primary: nil, backup: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DiffCaches(tc.primary, tc.backup, tc.ignore...)
			if err != nil {
				t.Fatal(err)
			}
			if d.Empty() != (len(tc.missing)+len(tc.extra)+len(tc.different) == 0) {
				t.Errorf("Empty() = %v for %s", d.Empty(), d)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"missing", d.Missing, tc.missing}, {"extra", d.Extra, tc.extra}, {"different", d.Different, tc.different}} {
				if strings.Join(c.got, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestDiffCachesReport(t *testing.T) {
	var primary []string
	for i := range 25 {
		primary = append(primary, `{"family":"ipv4","proto":"tcp","orig":{"src":"198.18.0.`+string(rune('a'+i))+`","dst":"198.19.0.1","sport":1,"dport":2},"zone":0}`)
	}
	d, err := DiffCaches(primary, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := d.String()
	if !strings.HasPrefix(s, "primary 25 flows, backup 0: 25 missing on the backup, 0 extra, 0 different") ||
		strings.Count(s, "\n  missing: tcp ") != 10 || !strings.Contains(s, "... and 15 more") {
		t.Errorf("report:\n%s", s)
	}
}

func TestDiffCachesRefusesBadListings(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"not JSON", `src=198.18.0.1`, "primary's listing: line 1:"},
		{"no tuple", `{"family":"ipv4"}`, "no original tuple"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DiffCaches([]string{tc.line}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	dup := `{"family":"ipv4","proto":"tcp","orig":{"src":"198.18.0.1","dst":"198.19.0.1","sport":1,"dport":2},"zone":0}`
	if _, err := DiffCaches(nil, []string{dup, dup}); err == nil || !strings.Contains(err.Error(), "backup's listing: line 2: tcp 198.18.0.1:1 -> 198.19.0.1:2 listed twice") {
		t.Errorf("a flow listed twice: err = %v", err)
	}
}
