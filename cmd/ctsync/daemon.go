package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/engine/metrics"
	"github.com/ctsync/ctsync/engine/render"
	"github.com/ctsync/ctsync/internal/daemonlog"
)

// daemonEngine is what `ctsync daemon` needs of the engine: run it,
// know when it has started, stop it, and hand it the control socket's
// requests (control.Handler, which includes Reload for SIGHUP).
type daemonEngine interface {
	control.Handler
	// Run runs the pipeline until ctx is done.
	Run(ctx context.Context) error
	// Ready is closed once start-up (initial dump, links) is done.
	Ready() <-chan struct{}
	Close() error
}

// engineOptions is what the daemon gives the engine besides the
// configuration.
type engineOptions struct {
	Log *slog.Logger
	// Load reads the configuration file again for a reload: the runtime,
	// its warnings, or the error that keeps it from being used.
	Load func() (config.Runtime, []string, error)
	// Reloaded is called with each configuration a reload applied.
	Reloaded func(config.Runtime)
	// EventThread starts the goroutine that reads the kernel's events
	// (nil: nothing to do), as engine.Options.EventThread.
	EventThread func() (release func())
}

// openEngine opens the engine's kernel sockets and links. It is a
// variable so that the command's tests run against a fake engine; the
// engine package plugs itself in with engine.Open.
var openEngine = func(rt config.Runtime, o engineOptions) (daemonEngine, error) {
	eo := engine.Options{
		Log: o.Log,
		Load: func() (config.Runtime, error) {
			rt, warns, err := o.Load()
			for _, w := range warns {
				o.Log.Warn("configuration", "warning", w)
			}
			return rt, err
		},
		Reloaded:    o.Reloaded,
		EventThread: o.EventThread,
	}
	if rt.Mode == config.ModeStats {
		l, err := engine.OpenFlowLog(rt, eo)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	e, err := engine.Open(rt, eo)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// helperSubsystem checks the kernel's support for user-space helpers; a
// variable for the same reason.
var helperSubsystem = func() error { return ctnl.HelperSubsystem(0) }

// exitFailed is a daemon that could not start or failed while running.
const exitFailed = 1

// notifyServingFlag is how conntrackd's command line runs the daemon:
// systemd's READY=1 once it serves, as conntrackd sends it, whatever the
// readiness (the package's unit and keepalived's script expect that).
var notifyServingFlag = &cli.BoolFlag{Name: "notify-serving", Hidden: true}

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:      "daemon",
		Usage:     "run the sync daemon in the foreground until SIGTERM or SIGINT",
		ArgsUsage: "FILE",
		Description: `Reads the configuration (HCL, JSON, YAML or a legacy conntrackd.conf;
errors exit 1 before anything starts), takes the lock file, opens the log
(log file, syslog, and standard error), the control socket and the engine,
and runs until SIGTERM or SIGINT, when it stops cleanly, removing the lock
file and the socket. SIGHUP reopens the log file and reloads the
configuration. Exit status: 0 after a clean stop, 1 when it cannot start
or fails, 2 for usage errors.`,
		OnUsageError: onUsageError,
		Flags:        []cli.Flag{inputFl, varFlag, varFile, notifyServingFlag},
		Action:       runDaemon,
	}
}

func runDaemon(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("daemon: want exactly one configuration file, got %d", c.NArg())
	}
	path := c.Args().First()
	if path == "-" {
		return usageErr("daemon: the configuration must be a file, which a reload can read again, not standard input")
	}
	// Signals are caught from the start: SIGHUP's default action kills
	// the process, so a reload sent while the configuration is being read
	// (logrotate's postrotate, a reload script) would end the daemon in
	// silence. A signal that comes before the engine runs waits for
	// serveDaemon, so a SIGTERM while the engine opens still removes the
	// lock file.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// Standard error is one of the log's sinks; when its reader goes
	// (`ctsync daemon FILE 2>&1 | logger`, logger killed), a write there
	// must fail, not kill the daemon by SIGPIPE with its lock file and
	// socket left behind. The log file and syslog go on.
	signal.Ignore(syscall.SIGPIPE)

	stderr := c.App.ErrWriter
	// Strict: the daemon is the start-up that conntrackd only judges
	// when it gets there; an absent interface fails now, not later.
	l := load(c, path, true)
	if l.ioErr != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("daemon: %s: %v", l.name, l.ioErr)}
	}
	if l.Diags.HasErrors() {
		printDiags(stderr, l.Diags)
		code := exitFailed
		if commandLineFault(l.Diags) {
			code = exitUsage
		}
		return &exitError{code: code, msg: fmt.Sprintf("daemon: %s: invalid configuration, not started", l.name)}
	}
	rt := l.Runtime
	if err := supported(rt); err != nil {
		return &exitError{code: exitFailed, msg: "daemon: " + err.Error()}
	}
	// The caches hold a million flows in compact slabs, but decoding
	// kernel events leaves garbage behind, and at Go's default GOGC=100
	// the heap grows to twice the live caches before a collection: a
	// sender's RSS was 270 B per cached flow at 1M. At 50 it is 210 B,
	// with no change to the CPU per event measurable in the lab (README,
	// "Design targets, measured"). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}

	dlog, warn, err := daemonlog.Open(logOptions(rt, stderr))
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("daemon: %v; not started", err)}
	}
	defer dlog.Close()
	log := dlog.Logger
	if warn != nil {
		log.Warn(warn.Error())
	}
	for _, d := range l.Diags.Fold(config.MaxDiagnostics) {
		log.Warn(d.String())
	}
	// From here on the log (standard error among its sinks) says why
	// the daemon stops; the exit error adds nothing to print. The log
	// file may be a running daemon's (a second start refused by the lock
	// file): the pid tells the reader the refusal is another process's,
	// as conntrackd's log lines do.
	fail := func(format string, args ...any) error {
		log.Error(fmt.Sprintf(format, args...)+"; not started", "pid", os.Getpid())
		return &exitError{code: exitFailed}
	}

	lock, err := takeLock(rt.Daemon.LockFile)
	if err != nil {
		return fail("%v", err)
	}
	defer lock.Release()
	if lock.Stale != "" {
		log.Warn("took over a lock file left by a ctsync that did not stop cleanly", "lock_file", rt.Daemon.LockFile, "content", lock.Stale)
	}
	eventThread := applyScheduler(log, rt.Scheduler)

	var ln *control.Listener
	if p := rt.Control.Path; p != "" {
		ln, err = control.Listen(p, 0)
		if errors.Is(err, control.ErrInUse) {
			return fail("control socket %s: another daemon (conntrackd or ctsync) answers on it", p)
		}
		if err != nil {
			return fail("%v", err)
		}
		defer ln.Close()
	}

	// The endpoint is bound before the engine opens, as the control
	// socket is, so that a port in use stops the start-up; it serves
	// once the engine gives it snapshots.
	var msrv *metrics.Server
	var snapshot func() render.Snapshot
	if addr := rt.Metrics.Listen; addr != "" {
		msrv, err = metrics.Listen(addr, metrics.NewRegistry(func() render.Snapshot { return snapshot() }), log)
		if err != nil {
			return fail("%v", err)
		}
		defer msrv.Close()
	}

	load := reloader(c, path)
	eng, err := openEngine(rt, engineOptions{Log: log, EventThread: eventThread, Load: func() (config.Runtime, []string, error) {
		// Every reload, SIGHUP's and `ctsync reload`'s, starts by
		// reopening the log file: logrotate's postrotate may use
		// either, and the file it moved away must not go on growing.
		if err := dlog.Reopen(); err != nil {
			log.Error("reload: reopening the log file failed; still writing the old one", "err", err)
		}
		return load()
	}, Reloaded: func(rt config.Runtime) {
		// The log follows the configuration too: a new file or
		// facility takes over once the reload is applied.
		warn, err := dlog.Apply(logOptions(rt, stderr))
		if err != nil {
			log.Error("reload: the log settings could not be applied; still logging as before", "err", err)
		} else if warn != nil {
			log.Warn("reload: " + warn.Error())
		}
	}})
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		// The kernel's word alone ("operation not permitted") does
		// not say what is missing.
		return fail("%v (the daemon needs root, or CAP_NET_ADMIN and CAP_NET_RAW)", err)
	}
	if err != nil {
		return fail("%v", err)
	}
	defer eng.Close()
	if msrv != nil {
		s, ok := eng.(interface{ Snapshot() render.Snapshot })
		if !ok {
			return fail("metrics endpoint: this engine has no statistics")
		}
		snapshot = s.Snapshot
	}
	return serveDaemon(log, dlog, rt, eng, ln, msrv, sigs, c.Bool(notifyServingFlag.Name))
}

// supported refuses what the daemon cannot do yet, before it takes
// anything: user-space helpers.
func supported(rt config.Runtime) error {
	if rt.Helpers.Enabled {
		if err := helperSubsystem(); err != nil {
			return fmt.Errorf("the configuration has helpers, which need the kernel's user-space helper support: %w", err)
		}
		return errors.New("the configuration has helpers: user-space helpers are not implemented yet; remove the helpers block")
	}
	switch rt.Mode {
	case config.ModeSync:
		return nil
	case config.ModeStats:
		return nil
	}
	return errors.New("the configuration has neither a sync nor a stats block: nothing to run")
}

// serveDaemon runs the engine, the control server and the metrics
// endpoint (msrv, nil for none) until a signal or a failure stops them,
// and stops them in order: the control server and the endpoint first (no
// request reaches an engine being stopped), then the engine.
func serveDaemon(log *slog.Logger, dlog *daemonlog.Log, rt config.Runtime, eng daemonEngine, ln *control.Listener, msrv *metrics.Server, sigs <-chan os.Signal, readyAtServe bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(ctx) }()

	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	srvDone := make(chan error, 1)
	// stopReq is the control socket's stop (conntrackd -k): a clean
	// shutdown, as SIGTERM's.
	stopReq := make(chan struct{}, 1)
	if ln != nil {
		srv := control.NewServer(eng, control.Options{Logger: log, Stop: func() error {
			select {
			case stopReq <- struct{}{}:
			default:
			}
			return nil
		}})
		if cs, ok := eng.(interface {
			SetControlStats(func() control.ServerStats)
		}); ok {
			cs.SetControlStats(srv.Stats) // so that `ctsync stats` shows refused requests
		}
		go func() { srvDone <- srv.Serve(srvCtx, ln) }()
	} else {
		close(srvDone)
	}
	metricsDone := make(chan error, 1)
	if msrv != nil {
		go func() { metricsDone <- msrv.Serve() }()
		log.Info("metrics endpoint listening", "address", msrv.Addr().String(), "path", metrics.Path)
	} else {
		close(metricsDone)
	}
	ready := eng.Ready()
	stopWatchdog := func() {}
	rw := &readyWatch{rt: rt, log: log, eng: eng, atServe: readyAtServe || !waitsForPeer(rt)}
	var poll <-chan time.Time
	var failure error
	for stop := false; !stop; {
		select {
		case <-ready:
			ready = nil
			log.Info("ctsync daemon started", "pid", os.Getpid(), "control", rt.Control.Path)
			detachedReady(log) // conntrackd -d waits for this, not for readiness
			rw.check(ctx)      // READY=1 when ready already
			if every, err := watchdogInterval(os.Getenv, os.Getpid()); err != nil {
				log.Warn("systemd watchdog not started", "err", err)
			} else {
				stopWatchdog = startWatchdog(rt, log, eng, every)
			}
			t := time.NewTicker(readyPoll)
			defer t.Stop()
			poll = t.C
		case <-poll:
			rw.check(ctx)
		case s := <-sigs:
			if s != syscall.SIGHUP {
				log.Info("shutdown requested", "signal", s.String())
				stop = true
				break
			}
			rw.reloading()
			reload(ctx, log, dlog, eng)
			rw.reloaded()
		case <-stopReq:
			log.Info("shutdown requested", "by", "control socket")
			stop = true
		case err := <-runDone:
			runDone = nil
			if err == nil {
				err = errors.New("the engine stopped by itself")
			}
			failure = err
			log.Error("engine failed", "err", err)
			stop = true
		case err, ok := <-srvDone:
			srvDone = nil
			if ok && err != nil {
				failure = err
				log.Error("control socket failed", "err", err)
				stop = true
			}
		case err, ok := <-metricsDone:
			// Monitoring lost is no reason to stop replicating.
			metricsDone = nil
			if ok && err != nil {
				log.Error("the metrics endpoint failed; the daemon goes on without it", "err", err)
			}
		}
	}
	stopWatchdog()
	notifySystemd(rt, log, "STOPPING=1")
	stopSrv()
	if msrv != nil {
		// A scrape in progress gets a moment to finish; the engine it
		// reads is still running.
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := msrv.Shutdown(sctx); err != nil {
			log.Warn("metrics endpoint: stopping", "err", err)
		}
		scancel()
	}
	if srvDone != nil {
		<-srvDone
	}
	if metricsDone != nil {
		<-metricsDone
	}
	cancel()
	if runDone != nil {
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) && failure == nil {
			failure = err
			log.Error("engine failed while stopping", "err", err)
		}
	}
	if failure != nil {
		return &exitError{code: exitFailed} // logged above
	}
	log.Info("ctsync daemon stopped")
	return nil
}

// reload is SIGHUP: the log file is reopened first (logrotate moved it),
// so that this reload's lines go to the new file; then the engine reads
// the configuration again (its loader reopens the file too, for
// `ctsync reload`: a second open of the same path is harmless). A failed
// reload is logged; the daemon goes on with the configuration it has.
func reload(ctx context.Context, log *slog.Logger, dlog *daemonlog.Log, eng daemonEngine) {
	if err := dlog.Reopen(); err != nil {
		log.Error("SIGHUP: reopening the log file failed; still writing the old one", "err", err)
	}
	log.Info("SIGHUP: reloading the configuration")
	if err := eng.Reload(ctx); err != nil {
		log.Error("reload failed; the running configuration is kept", "err", err)
		return
	}
	log.Info("configuration reloaded")
}

// reloader reads the configuration file again as the daemon read it at
// start: same syntax, variables and strictness.
func reloader(c *cli.Context, path string) func() (config.Runtime, []string, error) {
	return func() (config.Runtime, []string, error) {
		l := load(c, path, true)
		if l.ioErr != nil {
			return config.Runtime{}, nil, fmt.Errorf("%s: %w", l.name, l.ioErr)
		}
		var warns, errs []string
		for _, d := range l.Diags.Fold(config.MaxDiagnostics) {
			if d.Severity == config.Error {
				errs = append(errs, d.String())
			} else {
				warns = append(warns, d.String())
			}
		}
		if len(errs) > 0 {
			return config.Runtime{}, warns, fmt.Errorf("%s: invalid configuration:\n%s", l.name, strings.Join(errs, "\n"))
		}
		if err := supported(l.Runtime); err != nil {
			return config.Runtime{}, warns, err
		}
		return l.Runtime, warns, nil
	}
}

// logOptions are the log sinks rt names, standard error included.
func logOptions(rt config.Runtime, stderr io.Writer) daemonlog.Options {
	o := daemonlog.Options{File: rt.Log.File, Stderr: stderr}
	if rt.Log.Syslog != config.FacilityNone {
		o.Syslog = &daemonlog.SyslogOptions{Facility: engine.SyslogFacility(rt.Log.Syslog)}
	}
	return o
}
