package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
	"github.com/ctsync/ctsync/filter"
	"github.com/ctsync/ctsync/filter/kbpf"
)

// IngestSettings are what the kernel-side input stage needs: the event
// socket's settings (or polling instead of events), the resync after an
// overrun, and the filter.
type IngestSettings struct {
	// Expectations subscribes to and dumps expectations as well as flows
	// (conntrackd's ExpectationSync). ExpectHelpers, when not empty,
	// keeps only the expectations whose helper name starts with one of
	// them, compared without case (src/ctnl.c, exp_filter_find).
	Expectations  bool
	ExpectHelpers []string
	// ReadBuffer and ReadBufferMax are the event socket's receive buffer
	// and the ceiling it doubles up to on overruns; 0 keeps the system's
	// default and does not grow.
	ReadBuffer, ReadBufferMax int
	// EventsReliable makes the event socket reliable: no overrun is
	// reported, the kernel retries failed deliveries.
	EventsReliable bool
	// OverrunResync is the delay between an overrun and the dump that
	// resynchronises the sink with the table; 0 disables the resync.
	OverrunResync time.Duration
	// PollInterval, when not zero, replaces events by a dump of the table
	// every interval.
	PollInterval time.Duration
	// EventIterationLimit is the number of events one turn of the loop
	// handles before it looks at its timers; at least 1.
	EventIterationLimit int
	// Filter is the chain flows must pass. FilterInKernel compiles it
	// into the event socket's BPF program (filter/kbpf) instead of
	// running it on events; dumps are always filtered in user space.
	Filter         filter.Settings
	FilterInKernel bool
}

// IngestSettingsFor translates the configuration of the event socket, the
// polling, the event loop and the filter into the input stage's settings.
func IngestSettingsFor(r config.Runtime) (IngestSettings, error) {
	fs, err := FilterSettings(r.Filter)
	if err != nil {
		return IngestSettings{}, err
	}
	s := IngestSettings{
		Expectations:        r.Mode == config.ModeSync && r.Sync.ExpectationSync,
		EventsReliable:      r.Netlink.EventsReliable,
		OverrunResync:       r.Netlink.OverrunResync,
		PollInterval:        r.Daemon.PollInterval,
		EventIterationLimit: max(r.Daemon.EventIterationLimit, 1),
		Filter:              fs,
		FilterInKernel:      r.Filter.RunIn == config.RunInKernel,
	}
	if s.Expectations {
		s.ExpectHelpers = slices.Clone(r.Sync.ExpectationHelpers)
	}
	size, growth := r.Netlink.BufferSize, r.Netlink.BufferSizeMaxGrowth
	// conntrackd 1.4.7 sets the buffer only when the size is set and not
	// above the ceiling, else it keeps the system's default
	// (src/netlink.c, nl_init_event_handler); validate warns.
	if size > 0 && size <= growth {
		s.ReadBuffer, s.ReadBufferMax = int(size), int(growth)
	}
	return s, nil
}

// EventsConfig is the event socket's configuration for s, with the
// compiled filter when it runs in the kernel.
func (s IngestSettings) EventsConfig() (ctnl.EventsConfig, error) {
	c := ctnl.EventsConfig{
		Flows:         true,
		Expectations:  s.Expectations,
		ReadBuffer:    s.ReadBuffer,
		ReadBufferMax: s.ReadBufferMax,
		// conntrackd's NetlinkEventsReliable sets both (src/netlink.c).
		NoENOBUFS:      s.EventsReliable,
		BroadcastError: s.EventsReliable,
	}
	if s.FilterInKernel {
		prog, err := kbpf.Compile(s.Filter)
		if err != nil {
			return ctnl.EventsConfig{}, fmt.Errorf("compile the kernel event filter: %w", err)
		}
		c.Filter = prog
	}
	return c, nil
}
