package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/migrate"
)

// isLegacy reports whether args ask for conntrackd's command line: the
// program is called conntrackd (a symlink to ctsync), or its first
// argument is "conntrackd". It returns the program name conntrackd's
// messages use and the arguments after it.
func isLegacy(args []string) (prog string, rest []string, ok bool) {
	if len(args) == 0 {
		return "", nil, false
	}
	if filepath.Base(args[0]) == legacyName {
		return args[0], args[1:], true
	}
	if len(args) > 1 && args[1] == legacyName {
		return legacyName, args[2:], true
	}
	return "", nil, false
}

// runLegacy runs conntrackd's command line and returns its exit status:
// conntrackd 1.4.7's, with the differences docs/compat.md lists.
func runLegacy(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := &legacyOut{prog: prog, stdout: stdout, stderr: stderr, now: time.Now}
	cmd, code, done := parseLegacy(args, o)
	if done {
		return code
	}
	switch cmd.mode {
	case modeRequest:
		return legacyRequest(cmd, o)
	case modeDaemon:
		return detachDaemon(cmd.config, o)
	}
	// No command: the daemon in the foreground, as conntrackd's
	// "console mode", logging to the terminal too.
	code = run([]string{"ctsync", "daemon", "--" + notifyServingFlag.Name, cmd.config}, stdin, stdout, stderr)
	if code == exitUsage {
		code = exitFailed // conntrackd has no status 2
	}
	return code
}

// legacyLoad reads the configuration a conntrackd client or daemon is
// given: a legacy conntrackd.conf, or any of ctsync's syntaxes.
func legacyLoad(path string) (migrate.Loaded, error) {
	src, err := config.ReadFile(path)
	if err != nil {
		return migrate.Loaded{}, err
	}
	syntax, ok := config.DetectSyntax(path, src)
	if !ok {
		syntax = config.SyntaxLegacy
	}
	return migrate.Load(path, src, migrate.LoadOptions{
		Syntax:       syntax,
		Template:     config.LoadOptions{Environ: os.Environ()},
		Dialect:      migrate.Dialect147,
		AsConntrackd: true,
	}), nil
}

// legacyRequest sends the client option's request and prints what the
// daemon sends back, as conntrackd's client does. It exits 0 once the
// request is sent, whatever the daemon made of it, since scripts rely on
// that (docs/compat.md); unlike conntrackd, a failure the daemon reports
// is printed.
func legacyRequest(cmd legacyCmd, o *legacyOut) int {
	l, err := legacyLoad(cmd.config)
	if err != nil {
		o.log("ERROR", "can't open config file `%s'", cmd.config)
		return exitFailed
	}
	// Only the socket's path matters: a file wrong elsewhere must not
	// keep keepalived's commit from the running daemon (reference defect
	// F.1 item 7: conntrackd's client refuses every command then).
	path := l.Runtime.Control.Path
	if path == "" || l.File == nil {
		if l.Diags.HasErrors() {
			printDiags(o.stderr, l.Diags.Errors())
			o.log("ERROR", "%s: invalid configuration, so the control socket is unknown", cmd.config)
			return exitFailed
		}
		o.log("ERROR", "%s has no control socket (UNIX { Path ... }): the daemon takes no commands", cmd.config)
		return exitFailed
	}
	if !cmd.set {
		// conntrackd sends an action nobody handles (`-c zz`, where zz
		// is read as an option): nothing happens, status 0.
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := control.Dial(ctx, path)
	if err != nil {
		o.log("ERROR", "can't connect: is conntrackd running? appropriate permissions?")
		return exitFailed
	}
	defer client.Close()
	out := newLineWriter(o.stdout)
	err = client.Do(ctx, cmd.req, nil, out.line)
	out.flush()
	var ce *control.Error
	stopped := cmd.req.Command == control.Stop && (err == nil || errors.Is(err, control.ErrNoResult))
	switch {
	case err == nil:
	case errors.As(err, &ce):
		o.log("ERROR", "%s: %s", cmd.option, ce.Msg)
	case stopped:
		// Stopped before it could answer: what was asked.
	default:
		o.log("ERROR", "%s: %v", cmd.option, err)
	}
	if stopped {
		waitLockGone(ctx, l.Runtime.Daemon.LockFile, o)
	}
	return 0
}

// stopWait bounds how long -k waits for the daemon to be gone.
const stopWait = 10 * time.Second

// waitLockGone waits until the stopping daemon has removed its lock file,
// its last act. conntrackd's -k returns once the daemon has exited (it
// exits in the request's handler, src/run.c), so scripts start another
// right after; ctsync's daemon answers first and then stops, which takes
// a while with a big table, and a daemon started meanwhile would find
// the lock file taken.
func waitLockGone(ctx context.Context, lockFile string, o *legacyOut) {
	if lockFile == "" {
		return
	}
	deadline := time.Now().Add(stopWait)
	for {
		if _, err := os.Stat(lockFile); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			o.log("warning", "-k: the daemon has not removed its lock file %s after %v", lockFile, stopWait)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lineWriter buffers data lines for standard output.
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{w: w} }

func (l *lineWriter) line(b []byte) error {
	l.buf = append(append(l.buf, b...), '\n')
	if len(l.buf) >= 64<<10 {
		return l.flush()
	}
	return nil
}

func (l *lineWriter) flush() error {
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	if err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}
