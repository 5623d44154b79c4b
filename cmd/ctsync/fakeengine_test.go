package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
)

// fakeEngine stands in for the engine in the scripts' `ctsync daemon`
// (CTSYNC_TEST_ENGINE set): it logs what it is asked through the
// daemon's log, so a script sees it in the log file, and answers the
// control commands with fixed output. CTSYNC_TEST_ENGINE=fail-open makes
// Open fail, fail-run makes Run fail once started, slow-stop makes Run
// take a second to return once stopped.
type fakeEngine struct {
	o        engineOptions
	mode     string
	ready    chan struct{}
	resynced atomic.Bool
}

func openFakeEngine(rt config.Runtime, o engineOptions) (daemonEngine, error) {
	mode := os.Getenv("CTSYNC_TEST_ENGINE")
	if mode == "fail-open" {
		return nil, errors.New("fake engine: cannot open link primary: no such device")
	}
	if mode == "fail-perm" {
		return nil, fmt.Errorf("fake engine: netlink join-group: setsockopt: %w", syscall.EPERM)
	}
	o.Log.Info("fake engine: opened", "mode", rt.Sync.Mode, "links", len(rt.Links))
	return &fakeEngine{o: o, mode: mode, ready: make(chan struct{})}, nil
}

func (e *fakeEngine) Run(ctx context.Context) error {
	// The event socket's reader, started as the engine starts its own,
	// before it says it serves.
	started := make(chan struct{})
	go func() {
		if e.o.EventThread != nil {
			if release := e.o.EventThread(); release != nil {
				defer release()
			}
		}
		close(started)
		<-ctx.Done()
	}()
	<-started
	close(e.ready)
	if e.mode == "fail-run" {
		return errors.New("fake engine: the kernel closed the event socket")
	}
	<-ctx.Done()
	if e.mode == "slow-stop" {
		// An engine that takes its time to stop (a big table, a peer
		// to tell): the daemon still holds its lock file meanwhile.
		time.Sleep(time.Second)
	}
	e.o.Log.Info("fake engine: stopped")
	return nil
}

func (e *fakeEngine) Ready() <-chan struct{} { return e.ready }

func (e *fakeEngine) Close() error {
	e.o.Log.Info("fake engine: closed")
	return nil
}

func (e *fakeEngine) Commit(ctx context.Context, progress func(control.Progress)) error {
	progress(control.Progress{Stage: "commit", Done: 1, Total: 2})
	time.Sleep(300 * time.Millisecond) // longer than the server's progress interval
	progress(control.Progress{Stage: "commit", Done: 2, Total: 2})
	e.o.Log.Info("fake engine: commit")
	return nil
}

func (e *fakeEngine) Flush(ctx context.Context, cache control.Cache) error {
	e.o.Log.Info("fake engine: flush", "cache", string(cache))
	if e.mode == "fail-ops" {
		return errors.New("fake engine: flush: a commit or purge is in progress")
	}
	return nil
}

func (e *fakeEngine) Resync(ctx context.Context, kernel bool, progress func(control.Progress)) error {
	if kernel {
		return errors.New("fake engine: dumping the kernel table: no buffer space available")
	}
	e.o.Log.Info("fake engine: resync")
	e.resynced.Store(true)
	return nil
}

func (e *fakeEngine) Bulk(ctx context.Context) error {
	e.o.Log.Info("fake engine: bulk")
	return nil
}

func (e *fakeEngine) Purge(ctx context.Context) error {
	e.o.Log.Info("fake engine: purge")
	return nil
}

// Reload reads the configuration again through the daemon's loader, as
// the engine will.
func (e *fakeEngine) Reload(ctx context.Context) error {
	rt, warns, err := e.o.Load()
	for _, w := range warns {
		e.o.Log.Warn(w)
	}
	if err != nil {
		return err
	}
	e.o.Log.Info("fake engine: reloaded", "links", len(rt.Links))
	return nil
}

func (e *fakeEngine) Stats(ctx context.Context, format control.Format, emit control.Emit) error {
	if format == control.JSON {
		return emit([]byte(`{"cache":"internal","active":2}`))
	}
	for _, l := range []string{"cache internal:", "current active connections:            2"} {
		if err := emit([]byte(l)); err != nil {
			return err
		}
	}
	return nil
}

func (e *fakeEngine) Dump(ctx context.Context, cache control.Cache, format control.Format, emit control.Emit) error {
	if cache == control.External {
		return nil
	}
	for i := range 2 {
		line := fmt.Sprintf("tcp      6 ESTABLISHED src=198.51.100.%d dst=203.0.113.1 sport=4000%d dport=80 [ASSURED]", i+1, i)
		if format == control.JSON {
			line = fmt.Sprintf(`{"proto":"tcp","src":"198.51.100.%d"}`, i+1)
		}
		if format == control.XML {
			line = fmt.Sprintf(`<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>198.51.100.%d</src></layer3></meta></flow>`, i+1)
		}
		if err := emit([]byte(line)); err != nil {
			return err
		}
	}
	return nil
}

func (e *fakeEngine) CommitTable(ctx context.Context, table control.Table, progress func(control.Progress)) error {
	e.o.Log.Info("fake engine: commit", "table", string(table))
	return nil
}

func (e *fakeEngine) ResyncKernel(ctx context.Context, table control.Table, progress func(control.Progress)) error {
	e.o.Log.Info("fake engine: resync kernel", "table", string(table))
	return nil
}

func (e *fakeEngine) DumpExpect(ctx context.Context, cache control.Cache, format control.Format, emit control.Emit) error {
	if cache == control.External {
		return nil
	}
	line := "proto=6 src=198.51.100.1 dst=203.0.113.1 sport=0 dport=40000 master-src=198.51.100.1 master-dst=203.0.113.1 sport=40000 dport=21 class=0 helper=ftp [active since 3s]"
	if format == control.XML {
		line = `<flow><layer3 protonum="2" protoname="ipv4"><expected><src>198.51.100.1</src></expected></layer3></flow>`
	}
	return emit([]byte(line))
}

func (e *fakeEngine) StatsSection(ctx context.Context, section control.Section, emit control.Emit) error {
	if section == control.SectionProcess {
		return nil
	}
	return emit([]byte("fake " + string(section) + " statistics:"))
}

func (e *fakeEngine) FlushKernel(ctx context.Context, table control.Table) error {
	e.o.Log.Info("fake engine: flush kernel", "table", string(table))
	if os.Getenv("CTSYNC_TEST_ENGINE") == "fail-ops" {
		return errors.New("fake engine: the kernel refused the flush")
	}
	return nil
}

// ResyncWait reports two flows received. CTSYNC_TEST_ENGINE=not-ready
// never completes (until the client gives up); ready-after-resync
// becomes ready by it.
func (e *fakeEngine) ResyncWait(ctx context.Context, progress func(control.Progress)) error {
	e.o.Log.Info("fake engine: resync, waiting")
	if e.mode == "not-ready" {
		<-ctx.Done()
		return fmt.Errorf("resync: stopped waiting (%w): fake engine: no answer from the peer", context.Cause(ctx))
	}
	progress(control.Progress{Stage: "resync", Done: 1})
	time.Sleep(300 * time.Millisecond) // longer than the server's progress interval
	progress(control.Progress{Stage: "resync", Done: 2})
	e.resynced.Store(true)
	return nil
}

// Readiness: ready once serving; CTSYNC_TEST_ENGINE=not-ready never is,
// ready-after-resync once a resync was asked for (with or without
// waiting).
func (e *fakeEngine) Readiness(ctx context.Context) (control.Readiness, error) {
	switch {
	case e.mode == "not-ready":
		return control.Readiness{Reason: "waiting for the peer's table: fake engine, no peer"}, nil
	case e.mode == "ready-after-resync" && !e.resynced.Load():
		return control.Readiness{Reason: "no resync from the peer was asked for (fake engine)"}, nil
	}
	return control.Readiness{Ready: true, Reason: "fake engine: resync from the peer complete (2 flows received)"}, nil
}
