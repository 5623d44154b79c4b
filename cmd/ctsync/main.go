// Command ctsync replicates connection-tracking state between Linux
// firewalls. It is a rewrite of conntrackd: it reads conntrackd.conf through
// `ctsync migrate` and speaks conntrackd's sync protocol.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line and returns the process status: 0, 1 for an
// invalid configuration, 2 for usage and I/O errors.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.Run(interspersed(app, args))
	if err == nil {
		return 0
	}
	var ex *exitError
	if asExit(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "ctsync:", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "ctsync:", err)
	return exitUsage
}
