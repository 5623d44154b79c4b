// Command ctsync replicates connection-tracking state between Linux
// firewalls. It is a rewrite of conntrackd: it reads conntrackd.conf through
// `ctsync migrate` and speaks conntrackd's sync protocol.
package main

import (
	"fmt"
	"os"
)

func main() {
	app := newApp(os.Stdin, os.Stdout, os.Stderr)
	if err := app.Run(os.Args); err != nil {
		os.Exit(exitCode(err, os.Stderr))
	}
}

// exitCode prints err unless it was already reported and returns the
// process status: 1 for an invalid configuration, 2 for usage and I/O.
func exitCode(err error, stderr *os.File) int {
	var ex *exitError
	if asExit(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "ctsync:", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "ctsync:", err)
	return 2
}
