package engine

import (
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The file gets "<ctime>\t<flow>\n" as conntrackd's stats log has it,
// syslog the flow alone at priority info, and a reopen after logrotate
// moved the file writes a new one.
func TestFlowLogFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.log")
	sock := filepath.Join(dir, "log")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := OpenFlowLogFile(path, &FlowLogSyslog{Facility: syslog.LOG_LOCAL3, Tag: "test", Network: "unixgram", Addr: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := time.Date(2026, 3, 5, 7, 8, 9, 0, time.Local)
	if err := f.Write(at, []byte("udp      17 src=198.18.0.1 dst=198.18.0.2 sport=1 dport=53")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Thu Mar  5 07:08:09 2026\tudp      17 src=198.18.0.1 dst=198.18.0.2 sport=1 dport=53\n"; string(got) != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != FlowLogFileMode {
		t.Errorf("file mode %v (%v), want %v", fi.Mode().Perm(), err, FlowLogFileMode)
	}
	buf := make([]byte, 1024)
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	// <PRI> is facility*8 + severity: local3 (19) and info (6).
	if msg := string(buf[:n]); !strings.HasPrefix(msg, "<158>") || !strings.HasSuffix(strings.TrimSpace(msg), "test["+strconv.Itoa(os.Getpid())+"]: udp      17 src=198.18.0.1 dst=198.18.0.2 sport=1 dport=53") {
		t.Errorf("syslog got %q", msg)
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(at, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !strings.HasSuffix(string(got), "\tsecond\n") || strings.Count(string(got), "\n") != 1 {
		t.Errorf("after reopen the new file holds %q", got)
	}
}

func TestFlowLogFileErrors(t *testing.T) {
	if _, err := OpenFlowLogFile(filepath.Join(t.TempDir(), "missing", "flows.log"), nil); err == nil || !strings.Contains(err.Error(), "flow log") {
		t.Errorf("a file in a missing directory: %v", err)
	}
	if _, err := OpenFlowLogFile("", &FlowLogSyslog{Network: "unixgram", Addr: filepath.Join(t.TempDir(), "nobody")}); err == nil || !strings.Contains(err.Error(), "syslog") {
		t.Errorf("an unreachable syslog: %v", err)
	}
}
