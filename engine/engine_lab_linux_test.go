package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/migrate"
)

// labConfig is a firewall's configuration in the lab (lab.CtsyncConfig),
// loaded as the daemon loads it.
func labConfig(t testing.TB, l *lab.Lab, fw *lab.Node, mode, transport string, v6 bool) config.Runtime {
	t.Helper()
	return labConfigWith(t, l, fw, lab.CtsyncOptions{Mode: mode, Transport: transport, V6: v6})
}

func labConfigWith(t testing.TB, l *lab.Lab, fw *lab.Node, o lab.CtsyncOptions) config.Runtime {
	t.Helper()
	src := l.CtsyncConfigWith(fw, o)
	ld := migrate.Load("lab.hcl", []byte(src), migrate.LoadOptions{Syntax: config.SyntaxHCL})
	if ld.Diags.HasErrors() {
		t.Fatalf("lab config:\n%s\n%v", src, ld.Diags)
	}
	return ld.Runtime
}

// runEngine opens an engine in fw's namespace and runs it until the test
// ends.
func runEngine(t testing.TB, fw *lab.Node, rt config.Runtime) *engine.Engine {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", string(fw.Role))
	var e *engine.Engine
	if err := fw.Do(func() (err error) {
		e, err = engine.Open(rt, engine.Options{Log: log})
		return err
	}); err != nil {
		t.Fatalf("%s: open the engine: %v", fw.Role, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: engine: %v", fw.Role, err)
		}
		e.Close()
	})
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("%s: engine stopped before it was ready: %v", fw.Role, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: engine not ready after 10s", fw.Role)
	}
	return e
}

// dump lists a cache of e as the control socket would.
func dump(t testing.TB, e *engine.Engine, c control.Cache) []string {
	t.Helper()
	var lines []string
	err := e.Dump(context.Background(), c, control.Text, func(l []byte) error {
		lines = append(lines, string(l))
		return nil
	})
	if err != nil {
		t.Fatalf("dump %s: %v", c, err)
	}
	return lines
}

func TestLabReplicatesAndCommits(t *testing.T) {
	for _, tc := range []struct {
		mode, transport string
		v6              bool
	}{
		{"ftfw", "udp", false},
		{"notrack", "multicast", false},
		{"alarm", "tcp", false},
		{"ftfw", "tcp", true},
		{"notrack", "udp", true},
		{"ftfw", "multicast", true},
	} {
		name := fmt.Sprintf("%s-%s-ipv%d", tc.mode, tc.transport, map[bool]int{false: 4, true: 6}[tc.v6])
		t.Run(name, func(t *testing.T) {
			// With SNAT, the committed flows must carry their NAT for
			// the connections to survive: the server only knows the
			// WAN VIP.
			l := lab.New(t, lab.Options{NAT: true})
			l.StartEcho(t)
			fw1 := runEngine(t, l.FW1, labConfig(t, l, l.FW1, tc.mode, tc.transport, tc.v6))
			fw2 := runEngine(t, l.FW2, labConfig(t, l, l.FW2, tc.mode, tc.transport, tc.v6))

			const n = 200
			var entries []lab.Entry
			for i := range n {
				entries = append(entries, lab.Synthetic(i))
			}
			l.FW1.Insert(t, entries...)
			conns := []*lab.Conn{l.Dial(t, lab.IPv4, 5*time.Second), l.Dial(t, lab.IPv6, 5*time.Second)}
			for _, c := range conns {
				if err := c.Echo(2 * time.Second); err != nil {
					t.Fatalf("%s: echo before fail-over: %v", c, err)
				}
			}
			want := n + len(conns)
			lab.Eventually(t, 15*time.Second, "fw2's external cache to hold fw1's flows", func() (bool, string) {
				got := len(dump(t, fw2, control.External))
				return got >= want, fmt.Sprintf("external: %d flows, want %d; fw1 internal: %d", got, want, len(dump(t, fw1, control.Internal)))
			})

			// An update follows: a new mark on fw1 reaches fw2.
			marked := entries[1]
			l.FW1.Exec(t, "conntrack", append(append([]string{"-U"}, marked.Match()...), "--mark", "7")...)
			lab.Eventually(t, 15*time.Second, "the new mark on fw2", func() (bool, string) {
				for _, line := range dump(t, fw2, control.External) {
					if strings.Contains(line, "src="+marked.Src.String()+" ") {
						return strings.Contains(line, "mark=7 "), line
					}
				}
				return false, "flow missing"
			})

			// A destroyed flow is destroyed on the peer too.
			gone := entries[0]
			l.FW1.Exec(t, "conntrack", append([]string{"-D"}, gone.Match()...)...)
			lab.Eventually(t, 15*time.Second, "the destroyed flow to leave fw2's external cache", func() (bool, string) {
				for _, line := range dump(t, fw2, control.External) {
					if strings.Contains(line, "src="+gone.Src.String()+" ") {
						return false, line
					}
				}
				return true, ""
			})

			l.FailOver(t)
			if err := fw2.Commit(context.Background(), nil); err != nil {
				t.Fatalf("commit: %v", err)
			}
			for _, e := range entries[1:] {
				if len(l.FW2.Entries(t, e.Match()...)) != 1 {
					t.Fatalf("after the commit fw2's kernel lacks %s -> %s", e.Src, e.Dst)
				}
			}
			for _, c := range conns {
				vip := lab.WANVIP4
				if c.Family == lab.IPv6 {
					vip = lab.WANVIP6
				}
				got := l.FW2.Entries(t, c.ConnMatch()...)
				if len(got) != 1 || !strings.Contains(got[0], "dst="+vip.String()+" ") {
					t.Errorf("%s: fw2's committed flow lacks its SNAT to %s: %q", c, vip, got)
				}
				if err := c.Echo(2 * time.Second); err != nil {
					t.Errorf("%s: echo through fw2 after fail-over: %v", c, err)
				}
			}
		})
	}
}
