package engine

import (
	"fmt"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
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
	if is.PollInterval == 0 {
		ec, err := is.EventsConfig()
		if err != nil {
			return nil, err
		}
		ev, err := ctnl.ListenEvents(ec)
		if err != nil {
			return nil, fmt.Errorf("subscribe to the kernel's conntrack events: %w", err)
		}
		closers = append(closers, ev.Close)
		io.Events = ev
		if was, err := EnableConntrackEvents(ConntrackEventsSysctl); err != nil {
			if o.Log != nil {
				o.Log.Warn("conntrack events are not sent for every flow", "err", err)
			}
		} else if was != "1" && o.Log != nil {
			o.Log.Info("conntrack events enabled for every flow", "sysctl", ConntrackEventsSysctl, "was", was)
		}
	}
	table, err := ctnl.OpenTable(ctnl.TableConfig{})
	if err != nil {
		return nil, fmt.Errorf("open the kernel's conntrack table: %w", err)
	}
	closers = append(closers, table.Close)
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
