package ipproto

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLookups(t *testing.T) {
	tests := []struct {
		name   string
		lookup func(string) (Entry, bool)
		in     string
		want   string // official name; "" = not found
		number int
	}{
		{"official name", ByName, "tcp", "tcp", 6},
		{"alias", ByName, "TCP", "tcp", 6},
		{"other alias", ByName, "IPSEC-ESP", "esp", 50},
		{"second alias", ByName, "CPHB", "rspf", 73},
		{"ip is its own entry", ByName, "ip", "ip", 0},
		{"hopopt is its own entry", ByName, "hopopt", "hopopt", 0},
		{"above 255", ByName, "mptcp", "mptcp", 262},
		{"entry without alias", ByName, "manet", "manet", 138},
		{"case matters", ByName, "Tcp", "", 0},
		{"case matters for aliases", ByName, "ipsec-esp", "", 0},
		{"not a protocol", ByName, "icmpv6", "", 0},
		{"fold", Fold, "Tcp", "tcp", 6},
		{"fold alias", Fold, "ipsec-esp", "esp", 50},
		{"fold mixed", Fold, "Mptcp", "mptcp", 262},
		{"fold unknown", Fold, "bogus", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := tt.lookup(tt.in)
			if ok != (tt.want != "") || e.Name != tt.want || ok && e.Number != tt.number {
				t.Errorf("%q = %+v, %v; want %q (%d)", tt.in, e, ok, tt.want, tt.number)
			}
		})
	}
}

func TestByNumber(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "ip"}, // the first of ip and hopopt, as getprotobynumber
		{6, "tcp"},
		{58, "ipv6-icmp"},
		{262, "mptcp"},
		{7, ""},
		{255, ""},
	}
	for _, tt := range tests {
		e, ok := ByNumber(tt.n)
		if ok != (tt.want != "") || e.Name != tt.want {
			t.Errorf("ByNumber(%d) = %+v, %v; want %q", tt.n, e, ok, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	got := parse("# comment\n\nfoo\t1\tFOO F # trailing\nbad x\nneg -1\nbar 2\n  baz   3  \n")
	want := []Entry{{"foo", 1, []string{"FOO", "F"}}, {"bar", 2, []string{}}, {"baz", 3, []string{}}}
	if len(got) != len(want) {
		t.Fatalf("parse = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Number != want[i].Number || strings.Join(got[i].Aliases, " ") != strings.Join(want[i].Aliases, " ") {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestHostProtocols compares the embedded table with the host's
// /etc/protocols: every name resolves to the same number there, and on a
// host whose file is Debian's (netbase) the two hold the same names.
func TestHostProtocols(t *testing.T) {
	data, err := os.ReadFile("/etc/protocols")
	if err != nil {
		t.Skipf("no /etc/protocols on this host (%v); the embedded table is not compared", err)
	}
	host := map[string]int{}
	for _, e := range parse(string(data)) {
		for _, n := range append([]string{e.Name}, e.Aliases...) {
			if _, dup := host[n]; !dup {
				host[n] = e.Number
			}
		}
	}
	for _, n := range Names() {
		e, _ := ByName(n)
		if hn, ok := host[n]; !ok {
			t.Errorf("%q (%d) is not in the host's /etc/protocols", n, e.Number)
		} else if hn != e.Number {
			t.Errorf("%q is %d in the host's /etc/protocols, %d here", n, hn, e.Number)
		}
	}
	// dpkg lists the files of netbase; then the host file is the one the
	// embedded table was taken from, or a newer release of it.
	list, err := os.ReadFile("/var/lib/dpkg/info/netbase.list")
	if err != nil || !strings.Contains(string(list), "/etc/protocols\n") {
		t.Logf("the host's /etc/protocols is not Debian's netbase; its extra names are not compared")
		return
	}
	for n, num := range host {
		if _, ok := ByName(n); !ok {
			t.Errorf("the host's netbase /etc/protocols has %q (%d), the embedded table does not: update internal/ipproto/protocols", n, num)
		}
	}
}

// TestConntrackdResolves runs the installed conntrackd 1.4.7 on a filter
// that lists every name of the table, each also with its case changed, and
// checks that it warns about exactly the names ByName does not resolve.
func TestConntrackdResolves(t *testing.T) {
	const bin = "/usr/sbin/conntrackd"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("conntrackd not installed (apt-get install conntrackd)")
		}
		t.Skip("conntrackd not installed (apt-get install conntrackd)")
	}
	// conntrackd's lexer reads a word of at most 4 hex digits as an IPv6
	// address ("fc"), a syntax error in a protocol list.
	hexWord := regexp.MustCompile(`^[0-9a-fA-F]{1,4}$`)
	var words []string
	for _, n := range Names() {
		for _, w := range []string{n, strings.ToUpper(n), strings.ToLower(n), strings.ToUpper(n[:1]) + strings.ToLower(n[1:])} {
			if !hexWord.MatchString(w) && !strings.EqualFold(w, "tcp") && !strings.EqualFold(w, "udp") {
				words = append(words, w)
			}
		}
	}
	words = append(words, "icmpv6", "bogus")
	conf := "General { Filter { Protocol Accept {\n" + strings.Join(words, "\n") + "\n} } }\n"
	path := filepath.Join(t.TempDir(), "conntrackd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-C", path, "-s").CombinedOutput()
	if !strings.Contains(string(out), "can't connect") {
		t.Fatalf("conntrackd did not parse the file:\n%s", out)
	}
	skipped := map[string]bool{}
	for _, m := range regexp.MustCompile("cannot find protocol `([^']*)'").FindAllStringSubmatch(string(out), -1) {
		skipped[m[1]] = true
	}
	if !skipped["bogus"] {
		t.Fatalf("conntrackd's warning for an unknown name has changed:\n%s", out)
	}
	for _, w := range words {
		if _, ok := ByName(w); ok == skipped[w] {
			t.Errorf("%q: ByName resolves it = %v, conntrackd skips it = %v", w, ok, skipped[w])
		}
	}
}

func TestOfficialNames(t *testing.T) {
	got := OfficialNames()
	if len(got) != len(entries) || got[0] != "ip" || got[1] != "hopopt" {
		t.Fatalf("OfficialNames() = %d names starting %q, want one per entry (%d) starting ip, hopopt", len(got), got[:min(2, len(got))], len(entries))
	}
	for _, n := range got {
		if n == "TCP" || n == "IPSEC-ESP" {
			t.Errorf("OfficialNames() holds the alias %q", n)
		}
	}
}
