package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ctsync/ctsync/engine/control"
)

// The request each client option sends, its sub-arguments matched by
// prefix as conntrackd 1.4.7 matches them, and what the parser leaves to
// run.
func TestParseLegacy(t *testing.T) {
	tests := []struct {
		args   string
		req    control.Request
		mode   legacyMode
		config string
		warn   string // in standard error
	}{
		{args: "-c", req: control.Request{Command: control.Commit}, mode: modeRequest},
		{args: "-c ct", req: control.Request{Command: control.Commit, Table: control.Conntracks}, mode: modeRequest},
		{args: "-c e", req: control.Request{Command: control.Commit, Table: control.Expectations}, mode: modeRequest, warn: "taking `e' as `expect'"},
		{args: "-f", req: control.Request{Command: control.Flush}, mode: modeRequest},
		{args: "-f i", req: control.Request{Command: control.Flush, Cache: control.Internal}, mode: modeRequest, warn: "taking `i' as `internal'"},
		{args: "-f external", req: control.Request{Command: control.Flush, Cache: control.External}, mode: modeRequest},
		{args: "-F expect", req: control.Request{Command: control.FlushKernel, Table: control.Expectations}, mode: modeRequest},
		{args: "-R", req: control.Request{Command: control.Resync, Kernel: true}, mode: modeRequest},
		{args: "-R ct", req: control.Request{Command: control.Resync, Kernel: true, Table: control.Conntracks}, mode: modeRequest},
		{args: "-n", req: control.Request{Command: control.Resync}, mode: modeRequest},
		{args: "-B", req: control.Request{Command: control.Bulk}, mode: modeRequest},
		{args: "-t", req: control.Request{Command: control.Purge}, mode: modeRequest},
		{args: "-k", req: control.Request{Command: control.Stop}, mode: modeRequest},
		{args: "xk", req: control.Request{Command: control.Stop}, mode: modeRequest, warn: "taking `xk' as `-k'"},
		{args: "-s", req: control.Request{Command: control.Stats, Section: control.SectionGeneral}, mode: modeRequest},
		{args: "-s ct", req: control.Request{Command: control.Stats, Section: control.SectionGeneral}, mode: modeRequest},
		{args: "-s r", req: control.Request{Command: control.Stats, Section: control.SectionRuntime}, mode: modeRequest, warn: "taking `r' as `runtime'"},
		{args: "-s multicast", req: control.Request{Command: control.Stats, Section: control.SectionLink}, mode: modeRequest, warn: "use `link' instead of `multicast'"},
		{args: "-s process", req: control.Request{Command: control.Stats, Section: control.SectionProcess}, mode: modeRequest},
		{args: "-s queue", req: control.Request{Command: control.Stats, Section: control.SectionQueue}, mode: modeRequest},
		{args: "-s expect", req: control.Request{Command: control.Stats, Section: control.SectionExpect}, mode: modeRequest},
		{args: "-i", req: control.Request{Command: control.Dump, Cache: control.Internal}, mode: modeRequest},
		{args: "-i ct -x", req: control.Request{Command: control.Dump, Cache: control.Internal, Format: control.XML}, mode: modeRequest},
		{args: "-e expect -x", req: control.Request{Command: control.Dump, Cache: control.External, Table: control.Expectations, Format: control.XML}, mode: modeRequest},
		// The last client option wins, as in conntrackd.
		{args: "-c -f", req: control.Request{Command: control.Flush}, mode: modeRequest},
		{args: "-C /etc/x.conf -s", req: control.Request{Command: control.Stats, Section: control.SectionGeneral}, mode: modeRequest, config: "/etc/x.conf"},
		{args: "-d", mode: modeDaemon},
		{args: "-d -d", mode: modeDaemon},
		{args: "", mode: modeUnset},
		// -C without a file: the default file, after the usage (1.4.7).
		{args: "-d -C", mode: modeDaemon, warn: "[ERROR] Missing config filename"},
		// -C takes the next argument whatever it is.
		{args: "-C -v", mode: modeUnset, config: "-v"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			o := &legacyOut{prog: "conntrackd", stdout: &stdout, stderr: &stderr, now: func() time.Time { return time.Unix(0, 0) }}
			cmd, code, done := parseLegacy(strings.Fields(tt.args), o)
			if done {
				t.Fatalf("parse ended with status %d: %s%s", code, stdout.String(), stderr.String())
			}
			if cmd.mode != tt.mode || cmd.req != tt.req {
				t.Errorf("got mode %d %+v, want mode %d %+v", cmd.mode, cmd.req, tt.mode, tt.req)
			}
			if want := orDefault(tt.config, legacyConfig); cmd.config != want {
				t.Errorf("config %q, want %q", cmd.config, want)
			}
			if tt.warn == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.warn) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.warn)
			}
		})
	}
}

func orDefault(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// Every argument list ends, in bounded time, with a command or a status
// of conntrackd's (0 or 1), and never panics.
func FuzzParseLegacy(f *testing.F) {
	for _, s := range []string{"-c", "-s c", "-i expect -x", "-C", "xk", "", "-f zz", "-i zz -x", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var out bytes.Buffer
		o := &legacyOut{prog: "conntrackd", stdout: &out, stderr: &out, now: time.Now}
		_, code, _ := parseLegacy(strings.Split(s, " "), o)
		if code != 0 && code != 1 {
			t.Fatalf("status %d", code)
		}
	})
}

// stopDetached sends SIGTERM to the daemons whose lock files ("ctsync
// PID") are in dir: those a script started with conntrackd -d.
func stopDetached(dir string) {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	for _, l := range locks {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(string(b), "ctsync %d", &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

// legacySymlink makes $WORK/legacybin/conntrackd, a symlink to the
// ctsync command of the scripts, and names the directory $LEGACYBIN.
func legacySymlink(env *testscript.Env) error {
	ctsync, err := exec.LookPath("ctsync")
	if err != nil {
		return err
	}
	dir := filepath.Join(env.WorkDir, "legacybin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	env.Setenv("LEGACYBIN", dir)
	return os.Symlink(ctsync, filepath.Join(dir, legacyName))
}
