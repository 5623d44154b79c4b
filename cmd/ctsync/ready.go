package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/engine/control"
)

// The exit statuses of `ctsync ready`, for keepalived's track script and
// other monitors: only 0 means ready, and a daemon that cannot say is
// told apart from one that says no.
const (
	readyYes         = 0
	readyNo          = 1
	readyUsage       = exitUsage // 2
	readyUnreachable = 3
)

// defaultReadyTimeout bounds the question: keepalived runs the script
// every few seconds and a hung daemon must not hang it.
const defaultReadyTimeout = 5 * time.Second

const readyHelp = `Says, in one line on stdout, whether this node holds a complete copy of
its peer's state: the resync from the peer is complete and, in FT-FW,
what it sends the peer is being acknowledged (docs/readiness.md). For
keepalived's vrrp_script, so that the virtual address moves to a backup
only once it is ready.

The daemon is found through --socket PATH, or the control path of the
configuration that --config FILE names (default ` + defaultConfig + `).
Exit status: 0 ready, 1 not ready, 2 usage or configuration error,
3 the daemon cannot be reached or did not answer within --timeout.`

func readyCommand() *cli.Command {
	return &cli.Command{
		Name:         "ready",
		Usage:        "say whether this node holds a complete copy of its peer's state",
		ArgsUsage:    " ",
		Description:  readyHelp,
		OnUsageError: onUsageError,
		Flags: clientFlags(&cli.DurationFlag{Name: "timeout", Value: defaultReadyTimeout,
			Usage: "give up after `DURATION` (exit status 3)"}),
		Action: runReady,
	}
}

func runReady(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErr("ready: takes no arguments, got %q", c.Args().First())
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usageErr("ready: --timeout %v: want a positive duration", timeout)
	}
	path, err := socketPath(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := control.AskReady(ctx, path)
	var ce *control.Error
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{code: readyUnreachable, msg: fmt.Sprintf("ready: the daemon at %s did not answer within %v", path, timeout)}
	case errors.As(err, &ce):
		// A daemon older than the ready command refuses it: it
		// cannot say, which is not "no".
		return &exitError{code: readyUnreachable, msg: fmt.Sprintf("ready: the daemon refused the question (%s): %s", ce.Code, ce.Msg)}
	default:
		hint := "is ctsync daemon running?"
		if errors.Is(err, os.ErrPermission) {
			hint = "the socket is its owner's only (mode 0600): run as the daemon's user"
		}
		return &exitError{code: readyUnreachable, msg: fmt.Sprintf("ready: cannot reach the daemon at %s: %v: %s", path, cause(err), hint)}
	}
	fmt.Fprintln(c.App.Writer, r)
	if !r.Ready {
		return &exitError{code: readyNo}
	}
	return nil
}
