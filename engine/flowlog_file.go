package engine

import (
	"errors"
	"fmt"
	"log/syslog"
	"os"
	"sync"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/render"
)

// FlowLogFileMode is the flow log's permission when ctsync creates it:
// conntrackd's umask of 0177 (src/main.c) makes it the owner's only,
// and the addresses of every connection are not for every local user.
const FlowLogFileMode os.FileMode = 0o600

// FlowLogFile is the flow log of stats mode: a file, appended to, with
// one line per ended flow (the time as C's ctime prints it, a tab, the
// flow), and, when asked, syslog at priority info with the flow alone,
// as conntrackd's dlog_ct writes them (src/log.c). Unlike conntrackd's,
// the file can be reopened (Reopen), so that logrotate can move it away.
type FlowLogFile struct {
	mu     sync.Mutex
	path   string
	file   *os.File
	syslog *syslog.Writer
	line   []byte
}

// FlowLogSyslog says how to reach syslog; Network and Addr are empty for
// the local daemon, set by tests.
type FlowLogSyslog struct {
	Facility      syslog.Priority
	Tag           string
	Network, Addr string
}

// OpenFlowLogFile opens the file at path ("" for none) and, when sl is
// not nil, the syslog connection. A file that cannot be opened is an
// error, as it is for conntrackd ("can't open logfile"); so is a syslog
// that cannot be reached, which conntrackd would ignore, because stats
// mode with nowhere to log its flows does nothing useful.
func OpenFlowLogFile(path string, sl *FlowLogSyslog) (*FlowLogFile, error) {
	f := &FlowLogFile{path: path}
	if path != "" {
		file, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		f.file = file
	}
	if sl != nil {
		tag := sl.Tag
		if tag == "" {
			tag = "ctsync"
		}
		w, err := syslog.Dial(sl.Network, sl.Addr, sl.Facility|syslog.LOG_INFO, tag)
		if err != nil {
			if f.file != nil {
				f.file.Close()
			}
			return nil, fmt.Errorf("flow log: connect to syslog: %w", err)
		}
		f.syslog = w
	}
	return f, nil
}

// FlowLogOutputFor opens the outputs that s names: its file, and syslog
// with its facility.
func FlowLogOutputFor(s config.StatsSettings) (FlowLogOutput, error) {
	var sl *FlowLogSyslog
	if s.Syslog != config.FacilityNone {
		sl = &FlowLogSyslog{Facility: SyslogFacility(s.Syslog)}
	}
	return OpenFlowLogFile(s.LogFile, sl)
}

// SyslogFacility maps the configuration's facility to log/syslog's
// (LOG_DAEMON for anything unknown).
func SyslogFacility(f config.Facility) syslog.Priority {
	switch f {
	case config.FacilityLocal0:
		return syslog.LOG_LOCAL0
	case config.FacilityLocal1:
		return syslog.LOG_LOCAL1
	case config.FacilityLocal2:
		return syslog.LOG_LOCAL2
	case config.FacilityLocal3:
		return syslog.LOG_LOCAL3
	case config.FacilityLocal4:
		return syslog.LOG_LOCAL4
	case config.FacilityLocal5:
		return syslog.LOG_LOCAL5
	case config.FacilityLocal6:
		return syslog.LOG_LOCAL6
	case config.FacilityLocal7:
		return syslog.LOG_LOCAL7
	}
	return syslog.LOG_DAEMON
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FlowLogFileMode)
	if err != nil {
		return nil, fmt.Errorf("flow log: %w", err)
	}
	return f, nil
}

// Write writes one line to the file, in one write so that a reader never
// sees half of it, and the flow to syslog.
func (f *FlowLogFile) Write(at time.Time, text []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if f.file != nil {
		f.line = render.AppendCtime(f.line[:0], at)
		f.line = append(f.line, '\t')
		f.line = append(f.line, text...)
		f.line = append(f.line, '\n')
		if _, err := f.file.Write(f.line); err != nil {
			errs = append(errs, err)
		}
	}
	if f.syslog != nil {
		if err := f.syslog.Info(string(text)); err != nil {
			errs = append(errs, fmt.Errorf("syslog: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Reopen opens the file at its path again and closes the old one once
// the new one is open; on failure the old one stays in use.
func (f *FlowLogFile) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return nil
	}
	file, err := openAppend(f.path)
	if err != nil {
		return err
	}
	old := f.file
	f.file = file
	return old.Close()
}

// Close closes the file and the syslog connection.
func (f *FlowLogFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if f.file != nil {
		errs = append(errs, f.file.Close())
		f.file = nil
	}
	if f.syslog != nil {
		errs = append(errs, f.syslog.Close())
		f.syslog = nil
	}
	return errors.Join(errs...)
}
