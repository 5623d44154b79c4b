package main

import (
	"net"
	"os"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// sdnotifyCmd is "sdnotify NAME": listen as systemd does on the
// datagram socket NAME (for NOTIFY_SOCKET) until the script ends, and
// append each notification to NAME.log as one line, its newlines as
// spaces, so that a script can waitfor and grep what the daemon told
// systemd, in order.
func sdnotifyCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sdnotify NAME")
	}
	path := ts.MkAbs(args[0])
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	ts.Check(err)
	out, err := os.OpenFile(path+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	ts.Check(err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return // closed at the end of the script
			}
			out.WriteString(strings.ReplaceAll(string(buf[:n]), "\n", " ") + "\n")
		}
	}()
	ts.Defer(func() {
		c.Close()
		wg.Wait()
		out.Close()
	})
}
