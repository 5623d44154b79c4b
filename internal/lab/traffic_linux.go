package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// EchoPort is the port of the server's TCP echo service.
const EchoPort = 7

// Family is an address family of the lab's traffic.
type Family int

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string { return "IPv" + strconv.Itoa(int(f)) }

// ServerAddr returns the server's address in family f.
func ServerAddr(f Family) netip.Addr {
	if f == IPv6 {
		return ServerAddr6
	}
	return ServerAddr4
}

// ClientAddr returns the client's address in family f.
func ClientAddr(f Family) netip.Addr {
	if f == IPv6 {
		return ClientAddr6
	}
	return ClientAddr4
}

// StartEcho starts a TCP echo service on EchoPort in the server
// namespace, for IPv4 and IPv6, stopped when the test ends. Call it once
// per lab.
func (l *Lab) StartEcho(t T) {
	t.Helper()
	var ln net.Listener
	err := l.Server.Do(func() error {
		var err error
		// "[::]" with dual-stack sockets takes both families.
		ln, err = net.Listen("tcp", net.JoinHostPort("::", strconv.Itoa(EchoPort)))
		return err
	})
	if err != nil {
		t.Fatalf("echo server in %s: %v", l.Server.Name, err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// Conn is a TCP connection from the client to the server's echo service,
// through the active firewall.
type Conn struct {
	net.Conn
	Family Family
	// Local is the client's end, which names the flow in conntrack
	// listings (sport=).
	Local netip.AddrPort
	n     int
}

// Dial opens a connection from the client to the echo service, failing
// the test if it cannot be opened within timeout. It is closed when the
// test ends.
func (l *Lab) Dial(t T, f Family, timeout time.Duration) *Conn {
	t.Helper()
	c, err := l.DialErr(f, timeout)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// DialErr is Dial returning the error; the caller closes the connection.
func (l *Lab) DialErr(f Family, timeout time.Duration) (*Conn, error) {
	network := "tcp4"
	if f == IPv6 {
		network = "tcp6"
	}
	dst := net.JoinHostPort(ServerAddr(f).String(), strconv.Itoa(EchoPort))
	var nc net.Conn
	err := l.Client.Do(func() error {
		var err error
		nc, err = net.DialTimeout(network, dst, timeout)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client %s: dial %s: %w", l.Client.Name, dst, err)
	}
	return &Conn{Conn: nc, Family: f, Local: nc.LocalAddr().(*net.TCPAddr).AddrPort()}, nil
}

// ErrNoEcho reports that the echo did not come back in time.
var ErrNoEcho = errors.New("no echo")

// Echo sends a line on c and waits up to timeout for it to come back: the
// connection works end to end. A timeout is reported as ErrNoEcho; the
// echo may still come later (TCP keeps retransmitting), so a connection is
// not checked again after ErrNoEcho.
func (c *Conn) Echo(timeout time.Duration) error {
	c.n++
	msg := fmt.Appendf(nil, "ctsync lab %s %d\n", c.Local, c.n)
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("connection %s: write: %w", c.Local, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection %s: %w within %v", c.Local, ErrNoEcho, timeout)
		}
		return fmt.Errorf("connection %s: read: %w", c.Local, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("connection %s: echo %q, want %q", c.Local, got, msg)
	}
	return nil
}
