package engine

import (
	"fmt"

	"github.com/ctsync/ctsync/config"
)

// OpenFlowLog opens the kernel sockets and the flow log that rt (in stats
// mode) describes, in the caller's network namespace, and composes stats
// mode over them. The event socket is subscribed here, before Run dumps
// the table, so that no flow falls between the two.
func OpenFlowLog(rt config.Runtime, o Options) (_ *FlowLog, err error) {
	if rt.Mode != config.ModeStats {
		return nil, fmt.Errorf("flow log: the configuration's mode is %s, not stats", rt.Mode)
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
	io := FlowLogIO{Clock: SystemClock{}, OpenOut: FlowLogOutputFor}
	events, table, kclose, err := openKernelInput(is, o.Log)
	if err != nil {
		return nil, err
	}
	closers = append(closers, kclose...)
	if events != nil {
		io.Events = events
	}
	io.Table = table
	out, err := FlowLogOutputFor(rt.Stats)
	if err != nil {
		return nil, err
	}
	closers = append(closers, out.Close)
	io.Out = out
	l, err := NewFlowLog(rt, io, o)
	if err != nil {
		return nil, err
	}
	// Close closes the output itself.
	l.closers = closers[:len(closers)-1]
	return l, nil
}
