package engine

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/link"
)

// Open opens the kernel sockets and the links that rt describes, in the
// caller's network namespace, and composes an engine over them. The event
// socket is subscribed here, before Run dumps the table, so that no flow
// falls between the two.
func Open(rt config.Runtime, o Options) (_ *Engine, err error) {
	if rt.Mode != config.ModeSync {
		return nil, fmt.Errorf("engine: mode %s is not supported (only sync)", rt.Mode)
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
		}
	}()
	is, err := IngestSettingsFor(rt)
	if err != nil {
		return nil, err
	}
	if o.BatchWindow == 0 {
		o.BatchWindow = DefaultBatchWindow
	}
	io := IO{Clock: SystemClock{}}
	events, table, kclose, err := openKernelInput(is, o.Log)
	if err != nil {
		return nil, err
	}
	closers = append(closers, kclose...)
	if events != nil {
		io.Events = events
	}
	io.Table = table
	commit, err := ctnl.NewWriter(ctnl.WriterConfig{Batch: 256})
	if err != nil {
		return nil, fmt.Errorf("open the commit socket: %w", err)
	}
	closers = append(closers, commit.Close)
	io.Commit = commit
	if !rt.Caches.External.Enabled {
		inject, err := ctnl.NewWriter(ctnl.WriterConfig{})
		if err != nil {
			return nil, fmt.Errorf("open the inject socket: %w", err)
		}
		closers = append(closers, inject.Close)
		io.Inject = inject
		lookup, err := ctnl.OpenTable(ctnl.TableConfig{})
		if err != nil {
			return nil, fmt.Errorf("open the kernel's conntrack table for lookups: %w", err)
		}
		closers = append(closers, lookup.Close)
		io.Lookup = lookup
	}
	peer, err := openGroup(rt.Links, o.Log)
	if err != nil {
		return nil, err
	}
	closers = append(closers, peer.Close)
	io.Peer = peer
	e, err := New(rt, io, o)
	if err != nil {
		return nil, err
	}
	e.closers = closers
	e.openPeer = func(links []config.LinkSettings) (Peer, error) { return openGroup(links, o.Log) }
	return e, nil
}

// openGroup opens the configured links as a group.
func openGroup(links []config.LinkSettings, log *slog.Logger) (Peer, error) {
	ls, err := LinkSettings(links)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, errors.New("engine: no sync link configured")
	}
	g, err := link.OpenGroup(ls, log)
	if err != nil {
		return nil, fmt.Errorf("open the sync links: %w", err)
	}
	return GroupPeer{g}, nil
}

// GroupPeer is a link.Group as the engine's Peer.
type GroupPeer struct{ *link.Group }

// Malformed counts a datagram that did not decode on link i.
func (g GroupPeer) Malformed(i int) {
	if l := g.Links(); i >= 0 && i < len(l) {
		l[i].Counters().AddMalformed(1)
	}
}

// MaxDatagram is the smallest of the links' own, since any of them may
// carry the next datagram.
func (g GroupPeer) MaxDatagram() int {
	m := 0
	for _, l := range g.Links() {
		if d := l.MaxDatagram(); m == 0 || d < m {
			m = d
		}
	}
	return m
}

// openKernelInput opens what the input stage reads: the event socket
// (subscribed now, before the first dump, so that no flow falls between
// the two; none in polling mode), with every flow made to send events,
// and the table socket. It returns their closers; on error it has closed
// what it opened.
func openKernelInput(is IngestSettings, log *slog.Logger) (events *ctnl.Events, table *ctnl.Table, closers []func() error, err error) {
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
			closers = nil
		}
	}()
	if is.PollInterval == 0 {
		ec, err := is.EventsConfig()
		if err != nil {
			return nil, nil, closers, err
		}
		events, err = ctnl.ListenEvents(ec)
		if err != nil {
			return nil, nil, closers, fmt.Errorf("subscribe to the kernel's conntrack events: %w", err)
		}
		closers = append(closers, events.Close)
		if was, err := EnableConntrackEvents(ConntrackEventsSysctl); err != nil {
			if log != nil {
				log.Warn("conntrack events are not sent for every flow", "err", err)
			}
		} else if was != "1" && log != nil {
			log.Info("conntrack events enabled for every flow", "sysctl", ConntrackEventsSysctl, "was", was)
		}
	}
	table, err = ctnl.OpenTable(ctnl.TableConfig{})
	if err != nil {
		return nil, nil, closers, fmt.Errorf("open the kernel's conntrack table: %w", err)
	}
	closers = append(closers, table.Close)
	return events, table, closers, nil
}
