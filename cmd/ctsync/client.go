package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/internal/progress"
)

// defaultConfig is where a client command looks for the daemon's
// configuration when given neither --socket nor --config (README's
// quick start installs it there).
const defaultConfig = "/etc/ctsync/ctsync.hcl"

// clientFlags say where the daemon's control socket is.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "the daemon's control socket `PATH`"},
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "take the control socket from the daemon's configuration `FILE` (default " + defaultConfig + ")"},
		inputFl, varFlag, varFile,
	}, extra...)
}

// defaultResyncTimeout bounds `ctsync resync`'s wait: a million flows
// arrive in seconds, so this much means a peer that does not answer.
const defaultResyncTimeout = 2 * time.Minute

// formatFlag is --format for stats and dump.
var formatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output as text (as conntrackd prints it) or json (one object a line)"}

const clientHelp = `The daemon is found through --socket PATH, or the control path of the
configuration that --config FILE names (default ` + defaultConfig + `).
Exit status: 0 done, 1 the daemon refused or failed, or cannot be reached,
2 usage or configuration error.`

func clientCommands() []*cli.Command {
	cmd := func(name, usage, args, legacy string, flags []cli.Flag, build func(*cli.Context) (control.Request, error)) *cli.Command {
		return &cli.Command{
			Name:         name,
			Usage:        usage,
			ArgsUsage:    args,
			Description:  strings.ToUpper(usage[:1]) + usage[1:] + " (conntrackd " + legacy + ").\n\n" + clientHelp,
			OnUsageError: onUsageError,
			Flags:        clientFlags(flags...),
			Action:       func(c *cli.Context) error { return runClient(c, build) },
		}
	}
	noArgs := func(command control.Command) func(*cli.Context) (control.Request, error) {
		return func(c *cli.Context) (control.Request, error) {
			if c.NArg() > 0 {
				return control.Request{}, usageErr("%s: takes no arguments, got %q", command, c.Args().First())
			}
			return control.Request{Command: command}, nil
		}
	}
	return []*cli.Command{
		cmd("commit", "write the external cache (the peer's flows) into the kernel's table", " ", "-c", []cli.Flag{tableFlag}, withTable(noArgs(control.Commit))),
		cmd("flush", "empty the internal, the external or both caches", "[internal|external]", "-f", nil, func(c *cli.Context) (control.Request, error) {
			req := control.Request{Command: control.Flush}
			switch c.NArg() {
			case 0:
				return req, nil
			case 1:
				req.Cache = control.Cache(c.Args().First())
				if req.Cache == control.Internal || req.Cache == control.External {
					return req, nil
				}
			}
			return req, usageErr("flush: want internal, external or nothing (both), got %q", c.Args().Slice())
		}),
		cmd("resync", "ask the peer for its whole table and wait until it has all arrived; with --kernel, reload the internal cache from the kernel", " ", "-n, -R", []cli.Flag{
			&cli.BoolFlag{Name: "kernel", Usage: "reload the internal cache from the kernel's table instead (conntrackd -R)"}, tableFlag,
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the peer is asked, as conntrackd -n does"},
			&cli.DurationFlag{Name: "timeout", Value: defaultResyncTimeout, Usage: "give up waiting after `DURATION` (0: never); the daemon goes on receiving"},
		}, withTable(func(c *cli.Context) (control.Request, error) {
			req, err := noArgs(control.Resync)(c)
			req.Kernel = c.Bool("kernel")
			req.Wait = !req.Kernel && !c.Bool("no-wait")
			if err == nil && c.Duration("timeout") < 0 {
				err = usageErr("resync: --timeout %v: want a duration of 0 or more", c.Duration("timeout"))
			}
			return req, err
		})),
		cmd("bulk", "send the whole internal cache to the peer", " ", "-B", nil, noArgs(control.Bulk)),
		cmd("purge", "flush the kernel's table after the purge timeout, when this node becomes backup", " ", "-t", nil, noArgs(control.Purge)),
		cmd("reload", "make the daemon read its configuration again (as SIGHUP does)", " ", "has no such command", nil, noArgs(control.Reload)),
		cmd("stats", "print the daemon's statistics", " ", "-s", []cli.Flag{formatFlag, sectionFlag}, func(c *cli.Context) (control.Request, error) {
			req, err := noArgs(control.Stats)(c)
			if err != nil {
				return req, err
			}
			req.Section = control.Section(c.String("section"))
			req.Format, err = format(c)
			return req, err
		}),
		cmd("dump", "list the flows of the internal or the external cache, one a line", "internal|external", "-i, -e", []cli.Flag{dumpFormatFlag, expectFlag}, func(c *cli.Context) (control.Request, error) {
			req := control.Request{Command: control.Dump}
			if c.NArg() == 1 {
				req.Cache = control.Cache(c.Args().First())
			}
			if c.NArg() != 1 || (req.Cache != control.Internal && req.Cache != control.External) {
				return req, usageErr("dump: want internal or external, got %q", c.Args().Slice())
			}
			var err error
			req.Format, err = format(c)
			if c.Bool("expect") {
				req.Table = control.Expectations
			}
			return req, err
		}),
		cmd("flush-kernel", "delete from the kernel's table the flows the filter accepts (and, with expectation sync, every expectation)", " ", "-F", []cli.Flag{tableFlag}, withTable(noArgs(control.FlushKernel))),
		cmd("stop", "stop the daemon cleanly, as SIGTERM does", " ", "-k", nil, noArgs(control.Stop)),
		readyCommand(),
	}
}

func format(c *cli.Context) (control.Format, error) {
	switch f := control.Format(c.String("format")); f {
	case control.Text, control.JSON:
		return f, nil
	case control.XML:
		if c.Command.Name == "dump" {
			return f, nil
		}
	}
	if c.Command.Name == "dump" {
		return "", usageErr("%s: --format %q: want text, json or xml", c.Command.Name, c.String("format"))
	}
	return "", usageErr("%s: --format %q: want text or json", c.Command.Name, c.String("format"))
}

// The flags of conntrackd's sub-arguments: -c ct, -i expect, -s cache,
// -x.
var (
	tableFlag      = &cli.StringFlag{Name: "table", Usage: "only the conntracks (ct) or the expectations (expect)"}
	expectFlag     = &cli.BoolFlag{Name: "expect", Usage: "list the expectations instead of the flows"}
	sectionFlag    = &cli.StringFlag{Name: "section", Usage: "only one of conntrackd's -s sections, as text: general, network, cache, runtime, link, rsqueue, process, queue or expect"}
	dumpFormatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output as text (as conntrackd prints it), json (one object a line) or xml (as conntrackd -x)"}
)

// withTable adds --table to the request build makes.
func withTable(build func(*cli.Context) (control.Request, error)) func(*cli.Context) (control.Request, error) {
	return func(c *cli.Context) (control.Request, error) {
		req, err := build(c)
		if err != nil {
			return req, err
		}
		switch t := control.Table(c.String("table")); t {
		case "", control.Conntracks, control.Expectations:
			req.Table = t
			return req, nil
		}
		return req, usageErr("%s: --table %q: want ct or expect", c.Command.Name, c.String("table"))
	}
}

// runClient sends one request to the daemon and reports its outcome.
func runClient(c *cli.Context, build func(*cli.Context) (control.Request, error)) error {
	req, err := build(c)
	if err != nil {
		return err
	}
	path, err := socketPath(c)
	if err != nil {
		return err
	}
	name := c.Command.Name
	// ^C closes the connection, which cancels the request at the daemon.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	timeout := time.Duration(0)
	if req.Wait {
		timeout = c.Duration("timeout")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	out := bufio.NewWriterSize(c.App.Writer, 64<<10)
	progress, clear := progressTo(c.App.ErrWriter, req.Wait)
	client, err := control.Dial(ctx, path)
	if err != nil {
		hint := "is ctsync daemon running?"
		if errors.Is(err, os.ErrPermission) {
			hint = "the socket is its owner's only (mode 0600): run as the daemon's user"
		}
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: cannot reach the daemon at %s: %v: %s", name, path, cause(err), hint)}
	}
	defer client.Close()
	err = client.Do(ctx, req, progress, control.WriteLines(out))
	clear()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	var ce *control.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce) && ce.Code == control.CodeFailed:
		// The daemon's message may name the operation already ("reload:
		// filter: ..."): say it once.
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s failed: %s", name, strings.TrimPrefix(ce.Msg, name+": "))}
	case errors.As(err, &ce):
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: the daemon refused the request (%s): %s", name, ce.Code, ce.Msg)}
	case timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: the peer's table has not all arrived after %v; the daemon goes on receiving it (ctsync ready says when it has)", name, timeout)}
	case errors.Is(err, control.ErrNoResult):
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: the daemon closed the connection before saying whether it succeeded: it stopped or crashed", name)}
	case ctx.Err() != nil:
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: interrupted; the daemon cancels what it can", name)}
	}
	return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: %v", name, err)}
}

// cause is the system's reason under a dial error (connection refused,
// no such file), without the control package's advice, which the
// command words its own way.
func cause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// socketPath is --socket, or the control path of the configuration.
func socketPath(c *cli.Context) (string, error) {
	name := c.Command.Name
	if p := c.String("socket"); p != "" {
		if c.IsSet("config") {
			return "", usageErr("%s: give --socket or --config, not both", name)
		}
		return p, nil
	}
	file := c.String("config")
	if file == "" {
		if _, err := os.Stat(defaultConfig); err != nil {
			return "", usageErr("%s: where is the daemon? Give its control socket with --socket PATH or its configuration with --config FILE (%s: %v)", name, defaultConfig, errors.Unwrap(err))
		}
		file = defaultConfig
	}
	l := load(c, file, false)
	if l.ioErr != nil {
		return "", usageErr("%s: %s: %v", name, l.name, l.ioErr)
	}
	// Only the socket's path matters here. A file being edited, wrong
	// elsewhere, must not keep keepalived's `ctsync commit` from the
	// daemon, which runs with the configuration it read at start.
	if p := l.Runtime.Control.Path; p != "" && l.File != nil {
		return p, nil
	}
	if l.Diags.HasErrors() {
		printDiags(c.App.ErrWriter, l.Diags.Errors())
		return "", usageErr("%s: %s: invalid configuration, so its control socket is unknown", name, l.name)
	}
	if l.Runtime.Control.Path == "" {
		return "", usageErr("%s: %s has no control socket (control { path = ... }), so the daemon takes no commands", name, l.name)
	}
	return l.Runtime.Control.Path, nil
}

// progressTo returns the progress function for w and the function that
// ends the display before the command's own output: a bar redrawn in
// place on a terminal, plain lines a few seconds apart otherwise (a log
// or a pipe has no use for carriage returns). A resync that waits for
// the peer's table (waiting) prints, off a terminal, the updates received
// as docs/readiness.md shows them: countLines.
func progressTo(w io.Writer, waiting bool) (func(control.Progress), func()) {
	o := progress.Options{}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		o.Terminal, o.Width = true, terminalWidth(f)
	}
	if waiting && !o.Terminal {
		return countLines(w, time.Now, progress.DefaultLineInterval)
	}
	d := progress.New(w, o)
	return func(p control.Progress) { d.Update(p.Stage, p.Done, p.Total) }, d.Finish
}

// countLines prints reports as "resync: 52000" lines: the first at once,
// so that a log shows the wait has begun (it may last minutes while the
// peer is down), then one every interval at most, and at the end the
// last one not printed yet. A waiting resync's count is of updates
// received, retransmissions included, with no total: a rate and an ETA
// would say more than it knows.
func countLines(w io.Writer, now func() time.Time, every time.Duration) (func(control.Progress), func()) {
	var last control.Progress
	var at time.Time
	printed, pending := false, false
	show := func(p control.Progress) {
		fmt.Fprintf(w, "%s: %d\n", p.Stage, p.Done)
	}
	update := func(p control.Progress) {
		last, pending = p, true
		if t := now(); !printed || t.Sub(at) >= every {
			show(p)
			printed, pending, at = true, false, t
		}
	}
	return update, func() {
		if pending {
			show(last)
			pending = false
		}
	}
}
