package daemonlog

import (
	"bytes"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every configured sink gets every record: the file, syslog (with the
// record's severity and the facility) and the console.
func TestOpenAllSinks(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var stderr bytes.Buffer
	file := filepath.Join(dir, "ctsync.log")
	l, warn, err := Open(Options{
		File:   file,
		Syslog: &SyslogOptions{Facility: syslog.LOG_LOCAL3, Network: "unixgram", Addr: sock},
		Stderr: &stderr,
	})
	if err != nil || warn != nil {
		t.Fatalf("Open: %v, %v", err, warn)
	}
	l.With("component", "link").Warn("link down", "link", "primary")
	l.Debug("not logged at the default level")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"file": string(b), "stderr": stderr.String()} {
		if !strings.Contains(got, `level=WARN msg="link down" component=link link=primary`) || strings.Contains(got, "not logged") {
			t.Errorf("%s: %q", name, got)
		}
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != FileMode {
		t.Errorf("log file mode %v, want %v", st.Mode().Perm(), FileMode)
	}

	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <PRI> is facility*8 + severity: local3 (19) and warning (4).
	if !strings.HasPrefix(msg, "<156>") || !strings.Contains(msg, `ctsync[`) || !strings.HasSuffix(strings.TrimSpace(msg), `msg="link down" component=link link=primary`) {
		t.Errorf("syslog message %q", msg)
	}
}

// A log file is appended to, never truncated, and a reopen after
// rotation writes to the new file at the path.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ctsync.log")
	if err := os.WriteFile(file, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, _, err := Open(Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Info("one")
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	l.Info("two") // still the moved file, as logrotate expects before its signal
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Info("three")
	old, _ := os.ReadFile(file + ".1")
	cur, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(old), "before\n") || !strings.Contains(string(old), "msg=one") || !strings.Contains(string(old), "msg=two") || strings.Contains(string(old), "three") {
		t.Errorf("rotated file: %q", old)
	}
	if !strings.Contains(string(cur), "msg=three") || strings.Contains(string(cur), "two") {
		t.Errorf("new file: %q", cur)
	}
}

// A log file that cannot be opened stops the start; syslog that cannot
// be reached is a warning and the other sinks work.
func TestOpenFailures(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Open(Options{File: filepath.Join(dir, "missing", "x.log")}); err == nil || !strings.Contains(err.Error(), "cannot open log file") {
		t.Errorf("missing directory: %v", err)
	}
	var stderr bytes.Buffer
	l, warn, err := Open(Options{Syslog: &SyslogOptions{Network: "unixgram", Addr: filepath.Join(dir, "nobody")}, Stderr: &stderr})
	if err != nil || warn == nil || !strings.Contains(warn.Error(), "cannot reach syslog") {
		t.Fatalf("unreachable syslog: %v, %v", err, warn)
	}
	l.Info("still here")
	if !strings.Contains(stderr.String(), "still here") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// Fanout passes a record only to the sinks whose level admits it.
func TestFanoutLevels(t *testing.T) {
	var info, warn bytes.Buffer
	log := slog.New(Fanout(
		slog.NewTextHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(&warn, &slog.HandlerOptions{Level: slog.LevelWarn}),
	)).WithGroup("g")
	log.Info("i", "k", 1)
	log.Warn("w")
	if !strings.Contains(info.String(), "msg=i g.k=1") || !strings.Contains(info.String(), "msg=w") {
		t.Errorf("info sink: %q", info.String())
	}
	if strings.Contains(warn.String(), "msg=i") || !strings.Contains(warn.String(), "msg=w") {
		t.Errorf("warn sink: %q", warn.String())
	}
}

// A reload moves the log to another file; loggers made before it follow.
func TestApplyMovesTheLog(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	l, _, err := Open(Options{File: a})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sub := l.With("component", "engine")
	sub.Info("before")
	if _, err := l.Apply(Options{File: b}); err != nil {
		t.Fatal(err)
	}
	sub.Info("after")
	l.Info("root after")
	ra, _ := os.ReadFile(a)
	rb, _ := os.ReadFile(b)
	if !strings.Contains(string(ra), "msg=before component=engine") || strings.Contains(string(ra), "after") {
		t.Errorf("old file:\n%s", ra)
	}
	if !strings.Contains(string(rb), "msg=after component=engine") || !strings.Contains(string(rb), "root after") {
		t.Errorf("new file:\n%s", rb)
	}
	// A file that cannot be opened changes nothing.
	if _, err := l.Apply(Options{File: filepath.Join(dir, "missing", "c.log")}); err == nil {
		t.Fatal("Apply to a file in a missing directory succeeded")
	}
	sub.Info("still b")
	if rb, _ := os.ReadFile(b); !strings.Contains(string(rb), "still b") {
		t.Errorf("after a failed Apply the log left b:\n%s", rb)
	}
}
