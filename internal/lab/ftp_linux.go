package lab

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/netnstest"
)

// FTPPort opens an FTP control connection from the client's namespace to
// the server's and sends PORT for dataPort, which makes the client's ftp
// helper expect the data connection. The connection stays open until the
// test ends, and with it the master flow.
func FTPPort(t testing.TB, clientNS, serverNS *netnstest.NetNS, client, server string, dataPort int) {
	t.Helper()
	var ln net.Listener
	if err := serverNS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", server+":21")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	t.Cleanup(func() {
		ln.Close()
		select {
		case c := <-accepted:
			c.Close()
		default:
		}
	})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c
		r := bufio.NewReader(c)
		c.Write([]byte("220 hi\r\n"))
		r.ReadString('\n') // USER
		c.Write([]byte("331 go on\r\n"))
		r.ReadString('\n') // PORT
		c.Write([]byte("200 PORT ok\r\n"))
	}()
	var c net.Conn
	if err := clientNS.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", server+":21", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	a := netip.MustParseAddr(client).As4()
	// The helper parses a command only at a line start it has seen, so
	// the first line is never parsed: USER comes before PORT.
	for _, cmd := range []string{"USER anonymous\r\n", fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d\r\n", a[0], a[1], a[2], a[3], dataPort>>8, dataPort&0xff)} {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatalf("ftp: %v", err)
		}
		if _, err := c.Write([]byte(cmd)); err != nil {
			t.Fatalf("ftp: %v", err)
		}
	}
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "200") {
		t.Fatalf("ftp PORT: %q %v", line, err)
	}
}
