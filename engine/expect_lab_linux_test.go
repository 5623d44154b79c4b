package engine_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

// TestLabFTPExpectationSurvivesFailOver: an FTP client behind fw1 sends
// PORT; fw1's ftp helper expects the server's data connection. After a
// fail-over and a commit, fw2 lets that data connection in, which its
// stateful forwarding would drop (new from the WAN) without the
// replicated expectation.
func TestLabFTPExpectationSurvivesFailOver(t *testing.T) {
	for _, tc := range []struct{ mode, transport string }{
		{"ftfw", "udp"}, {"notrack", "multicast"}, {"alarm", "tcp"},
	} {
		t.Run(tc.mode+"-"+tc.transport, func(t *testing.T) { testFTPFailOver(t, tc.mode, tc.transport) })
	}
}

func testFTPFailOver(t *testing.T, mode, transport string) {
	l := lab.New(t, lab.Options{})
	for _, fw := range []*lab.Node{l.FW1, l.FW2} {
		fw.NFT(t, fmt.Sprintf(`table inet ftp {
	ct helper ftph { type "ftp" protocol tcp; }
	chain pre { type filter hook prerouting priority filter; iifname %q tcp dport 21 ct helper set "ftph"; }
}`, fw.LAN))
	}
	rt1 := labConfig(t, l, l.FW1, mode, transport, false)
	rt2 := labConfig(t, l, l.FW2, mode, transport, false)
	rt1.Sync.ExpectationSync, rt2.Sync.ExpectationSync = true, true
	runEngine(t, l.FW1, rt1)
	fw2 := runEngine(t, l.FW2, rt2)

	const dataPort = 40021
	client, server := lab.ClientAddr(lab.IPv4), lab.ServerAddr(lab.IPv4)
	var ln net.Listener
	if err := l.Client.Do(func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(client.String(), strconv.Itoa(dataPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lab.FTPPort(t, l.Client.NetNS, l.Server.NetNS, client.String(), server.String(), dataPort)
	if got := l.FW1.Exec(t, "conntrack", "-L", "expect"); !strings.Contains(got, fmt.Sprintf("dport=%d", dataPort)) {
		t.Fatalf("fw1's ftp helper expects nothing:\n%s", got)
	}
	lab.Eventually(t, 10*time.Second, "the expectation in fw2's external cache", func() (bool, string) {
		s := fw2.Snapshot()
		return s.ExternalExpect != nil && s.ExternalExpect.Active == 1, fmt.Sprintf("%+v", s.ExternalExpect)
	})

	l.FailOver(t)
	if err := fw2.Commit(context.Background(), nil); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got := l.FW2.Exec(t, "conntrack", "-L", "expect")
	if !strings.Contains(got, fmt.Sprintf("dport=%d", dataPort)) || !strings.Contains(got, "ftp") {
		t.Fatalf("fw2 has not the expectation after the commit:\n%s", got)
	}
	// The server's active-mode data connection, from port 20.
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	if err := l.Server.Do(func() error {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: server.AsSlice(), Port: 20}}
		c, err := d.Dial("tcp4", net.JoinHostPort(client.String(), strconv.Itoa(dataPort)))
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("the data connection through fw2: %v", err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}
