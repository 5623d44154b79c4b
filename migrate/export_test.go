package migrate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// TestExport runs the cases in testdata/export: each txtar archive holds a
// ctsync.hcl, the conntrackd.conf Export writes from it (absent when Export
// refuses) and the diagnostics, one per line. Every conntrackd.conf is also
// fed to the real conntrackd 1.4.7 when it is installed.
func TestExport(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "export", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no test cases in testdata/export")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string]string{}
			for _, f := range ar.Files {
				sections[f.Name] = string(f.Data)
			}
			src, ok := sections["ctsync.hcl"]
			if !ok {
				t.Fatalf("%s has no ctsync.hcl section", file)
			}
			f, pds := config.Parse("ctsync.hcl", []byte(src), config.LoadOptions{})
			if pds.HasErrors() {
				t.Fatalf("ctsync.hcl does not parse: %v", pds)
			}
			var out bytes.Buffer
			diags, err := Export(&out, f)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, d := range diags {
				got.WriteString(formatExportDiag(d) + "\n")
			}
			if diags.HasErrors() && out.Len() > 0 {
				t.Errorf("Export wrote %d bytes despite errors", out.Len())
			}

			if *update {
				ar.Files = ar.Files[:0]
				ar.Files = append(ar.Files, txtar.File{Name: "ctsync.hcl", Data: []byte(src)})
				if out.Len() > 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "conntrackd.conf", Data: out.Bytes()})
				}
				if got.Len() > 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "diagnostics", Data: []byte(got.String())})
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				sections["conntrackd.conf"], sections["diagnostics"] = out.String(), got.String()
			}
			if diff := cmp.Diff(sections["conntrackd.conf"], out.String()); diff != "" {
				t.Errorf("conntrackd.conf mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sections["diagnostics"], got.String()); diff != "" {
				t.Errorf("diagnostics mismatch (-want +got):\n%s", diff)
			}
			for _, d := range diags {
				if d.Pos.Line == 0 {
					t.Errorf("diagnostic without a position: %v", d)
				}
			}
			if out.Len() > 0 {
				checkWithConntrackd(t, out.Bytes())
			}
		})
	}
}

func formatExportDiag(d config.Diagnostic) string {
	s := d.Pos.String() + ": " + d.Severity.String() + " [" + d.Code + "] " + d.Message
	if d.Detail != "" {
		s += "; " + d.Detail
	}
	return s
}

// checkWithConntrackd parses conf with the installed conntrackd: with no
// daemon running, "conntrackd -C FILE -s" parses FILE and then fails only to
// connect to the daemon.
func checkWithConntrackd(t *testing.T, conf []byte) {
	t.Helper()
	bin, err := exec.LookPath("conntrackd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/conntrackd", "/sbin/conntrackd"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("conntrackd is not installed; CI must check exported files with it")
		}
		t.Log("conntrackd not installed: exported file not checked")
		return
	}
	path := filepath.Join(t.TempDir(), "conntrackd.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "-C", path, "-s").CombinedOutput()
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[ERROR]") && !strings.Contains(line, "can't connect") {
			errs = append(errs, line)
		}
	}
	if len(errs) > 0 || !strings.Contains(string(out), "can't connect") {
		t.Errorf("conntrackd refuses the exported file:\n%s\n%s", out, conf)
	}
	if strings.Contains(string(out), "[WARNING]") {
		t.Errorf("conntrackd warns about the exported file:\n%s\n%s", out, conf)
	}
}

// TestExportNothingWrittenOnError checks that a refused File leaves w empty.
func TestExportNothingWrittenOnError(t *testing.T) {
	zero := "0s"
	f := &config.File{Daemon: &config.Daemon{PollInterval: &zero}}
	var out bytes.Buffer
	diags, err := Export(&out, f)
	if err != nil {
		t.Fatal(err)
	}
	if !diags.HasErrors() {
		t.Fatalf("poll_interval 0s: no error in %v", diags)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q despite errors", out.String())
	}
}

func TestExportProtocolNumbers(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"tcp is a keyword", "tcp", "TCP"},
		{"udp number", "17", "UDP"},
		{"sctp number", "132", "sctp"},
		{"icmpv6 alias", "icmpv6", "ipv6-icmp"},
		{"gre", "gre", "gre"},
		{"number 0 is ip, the first entry", "0", "ip"},
		{"hopopt keeps its name", "hopopt", "hopopt"},
		{"ip", "ip", "ip"},
		{"alias becomes the official name", "IPSEC-ESP", "esp"},
		{"upper case", "SCTP", "sctp"},
		{"mptcp, above 255", "mptcp", "mptcp"},
		{"number without a name", "200", ""},
		{"unknown name", "bogus", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &exporter{}
			got, ok := e.protocol(config.Node{}.DefRange, tt.in)
			if tt.want == "" {
				if ok || !e.diags.HasErrors() {
					t.Fatalf("protocol(%q) = %q, %v; want an export-unexpressible error", tt.in, got, e.diags)
				}
				return
			}
			if !ok {
				t.Fatalf("protocol(%q) failed: %v", tt.in, e.diags)
			}
			if got != tt.want {
				t.Errorf("protocol(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
