package main

import (
	"io"
	"log/syslog"
	"testing"

	"github.com/ctsync/ctsync/config"
)

// The daemon logs where the configuration says: the log file named,
// syslog with the facility named or not at all, and always standard
// error.
func TestLogOptions(t *testing.T) {
	tests := []struct {
		name       string
		log        config.LogSettings
		wantFile   string
		wantSyslog bool
		facility   syslog.Priority
	}{
		{name: "neither", log: config.LogSettings{Syslog: config.FacilityNone}},
		{name: "file", log: config.LogSettings{File: "/var/log/conntrackd.log", Syslog: config.FacilityNone}, wantFile: "/var/log/conntrackd.log"},
		{name: "syslog daemon", log: config.LogSettings{Syslog: config.FacilityDaemon}, wantSyslog: true, facility: syslog.LOG_DAEMON},
		{name: "syslog local0", log: config.LogSettings{Syslog: config.FacilityLocal0}, wantSyslog: true, facility: syslog.LOG_LOCAL0},
		{name: "syslog local7 and a file", log: config.LogSettings{File: "/x.log", Syslog: config.FacilityLocal7}, wantFile: "/x.log", wantSyslog: true, facility: syslog.LOG_LOCAL7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := logOptions(config.Runtime{Log: tt.log}, io.Discard)
			if o.File != tt.wantFile {
				t.Errorf("file %q, want %q", o.File, tt.wantFile)
			}
			if (o.Syslog != nil) != tt.wantSyslog {
				t.Fatalf("syslog %v, want %v", o.Syslog != nil, tt.wantSyslog)
			}
			if o.Syslog != nil && o.Syslog.Facility != tt.facility {
				t.Errorf("facility %v, want %v", o.Syslog.Facility, tt.facility)
			}
			if o.Stderr == nil {
				t.Error("standard error is not a sink")
			}
		})
	}
}
