package migrate

import (
	"testing"

	"github.com/ctsync/ctsync/config"
)

// General's log, lock file and control socket settings reach the runtime
// as conntrackd 1.4.7 reads them: LogFile and Syslog are off unless
// written, "on" means /var/log/conntrackd.log and the daemon facility,
// "off" turns off what an earlier line turned on; the lock file defaults
// to /var/lock/conntrackd.lock; UNIX > Path is the control socket, and
// none is made without it.
func TestGeneralDaemonSettings(t *testing.T) {
	const link = "Sync {\n Mode FTFW {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth1\n }\n}\n"
	tests := []struct {
		name    string
		general string
		want    func(rt config.Runtime) (got, want any)
	}{
		{"log off unless written", "", func(rt config.Runtime) (any, any) {
			return rt.Log, config.LogSettings{File: "", Syslog: config.FacilityNone}
		}},
		{"LogFile on", "LogFile on", func(rt config.Runtime) (any, any) { return rt.Log.File, "/var/log/conntrackd.log" }},
		{"LogFile path", "LogFile /var/log/ha/ct.log", func(rt config.Runtime) (any, any) { return rt.Log.File, "/var/log/ha/ct.log" }},
		{"LogFile off after on", "LogFile on\n LogFile off", func(rt config.Runtime) (any, any) { return rt.Log.File, "" }},
		{"Syslog on", "Syslog on", func(rt config.Runtime) (any, any) { return rt.Log.Syslog, config.FacilityDaemon }},
		{"Syslog facility", "Syslog local3", func(rt config.Runtime) (any, any) { return rt.Log.Syslog, config.FacilityLocal3 }},
		{"Syslog off", "Syslog off", func(rt config.Runtime) (any, any) { return rt.Log.Syslog, config.FacilityNone }},
		{"lock file default", "", func(rt config.Runtime) (any, any) { return rt.Daemon.LockFile, "/var/lock/conntrackd.lock" }},
		{"lock file", "LockFile /run/ct.lock", func(rt config.Runtime) (any, any) { return rt.Daemon.LockFile, "/run/ct.lock" }},
		{"systemd on by default", "", func(rt config.Runtime) (any, any) { return rt.Daemon.Systemd, true }},
		{"systemd off", "Systemd off", func(rt config.Runtime) (any, any) { return rt.Daemon.Systemd, false }},
		{"control socket", "UNIX {\n  Path /run/ct.ctl\n }", func(rt config.Runtime) (any, any) { return rt.Control.Path, "/run/ct.ctl" }},
		{"no control socket without Path", "UNIX {\n }", func(rt config.Runtime) (any, any) { return rt.Control.Path, "" }},
		{"scheduler default", "", func(rt config.Runtime) (any, any) {
			return rt.Scheduler, config.SchedulerSettings{Policy: config.SchedRR, Priority: 99}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "General {\n " + tt.general + "\n}\n" + link
			exists := func(string) bool { return true }
			lf, diags := Parse("t.conf", []byte(src), Options{InterfaceExists: exists})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			f, _, cds := Convert(lf)
			if cds.HasErrors() {
				t.Fatal(cds)
			}
			rt, vds := config.Validate(f, config.ValidateOptions{InterfaceExists: exists})
			if vds.HasErrors() {
				t.Fatal(vds)
			}
			if got, want := tt.want(rt); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
