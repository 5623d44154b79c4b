package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
)

// TestNoCommentLost: an operator's notes in a legacy file are part of what
// migrate must not lose. Every comment of every corpus file reaches the
// HCL and the YAML output (as often as it was written), and Convert notes
// none on a path the writers would not look up.
func TestNoCommentLost(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lf, diags := Parse(name, src, Options{Dialect: DialectLenient, InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Skipf("does not parse: %v", diags)
			}
			f, comments, cds := Convert(lf)
			if cds.HasErrors() {
				t.Skipf("does not convert: %v", cds)
			}
			offered := map[string]bool{}
			for _, p := range config.CommentPaths(f) {
				offered[p] = true
			}
			for k := range comments {
				if !offered[k] {
					t.Errorf("comment noted on %q, which the writers do not emit: %+v", k, comments[k])
				}
			}
			want := map[string]int{}
			for _, c := range lf.Comments {
				if text := commentText(c); text != "" {
					want[text]++
				}
			}
			for _, format := range []string{"hcl", "yaml"} {
				out, mds := Migrate(name, src, MigrateOptions{Format: format, InterfaceExists: func(string) bool { return true }})
				if mds.HasErrors() {
					t.Skipf("does not migrate: %v", mds)
				}
				for text, n := range want {
					if got := strings.Count(string(out), text); got < n {
						t.Errorf("%s output has comment %q %d times, the legacy file %d times", format, text, got, n)
					}
				}
			}
		})
	}
}

// TestStrayCommentPlacement: comments that belong to no model item stay
// at the end of the block whose section they end (zillow's commented-out
// "#DisableExternalCache On" before Mode FTFW's "}"), or else go above the
// item that follows them in the legacy file, or to the end.
func TestStrayCommentPlacement(t *testing.T) {
	const link = " UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth0\n }\n"
	tests := []struct {
		name string
		src  string
		want []string // in this order in the output
		yaml bool     // migrate to YAML instead of HCL
	}{
		{
			name: "file header and end",
			src:  "# header\n\n# about General\n\nGeneral { # general\n LockFile /tmp/l\n # left at the end of a block\n}\n# end\n",
			want: []string{"# Migrated from t.conf by ctsync migrate.\n#\n# header\n# about General\n\n# general\ndaemon {\n  lock_file = \"/tmp/l\"\n}\n\n# left at the end of a block\n# end\n"},
		},
		{
			name: "sync section and mode",
			src:  "# sync settings\nSync { # sync\n Mode FTFW { # mode\n  ResendQueueSize 1000 # queue\n  # ACKWindowSize 300\n }\n" + link + "}\n",
			want: []string{"# sync settings\n# sync\nsync \"ftfw\" {", "# mode\n", "resend_queue_size = 1000 # queue\n  # ACKWindowSize 300\n}\n", "link \"primary\" {"},
		},
		{
			name: "end of a mode block, in YAML",
			src:  "Sync {\n Mode FTFW {\n  ResendQueueSize 1000\n  # ACKWindowSize 300\n }\n" + link + "}\n",
			want: []string{"sync:\n  ftfw:\n    resend_queue_size: 1000\n    # ACKWindowSize 300\nlink:\n  primary:\n"},
			yaml: true,
		},
		{
			name: "end of a link and of a filter set",
			src:  "General {\n Filter {\n  Protocol Accept {\n   TCP\n   # UDP\n  }\n  # later\n }\n}\nSync {\n Mode NOTRACK {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth0\n  # Checksum off\n }\n}\n",
			want: []string{"  stage \"protocol\" {\n    accept = [\"tcp\"]\n    # UDP\n  }\n  # later\n}\n", "port      = 3780\n  # Checksum off\n}\n"},
		},
		{
			name: "end of an empty mode block",
			src:  "Sync {\n Mode NOTRACK {\n  # StartupResync on\n }\n" + link + "}\n",
			want: []string{"sync \"notrack\" {\n  # StartupResync on\n}\n"},
		},
		{
			name: "closing brace of an empty mode",
			src:  "Sync {\n Mode NOTRACK {\n } # nothing to set\n" + link + "}\n",
			want: []string{"sync \"notrack\" { # nothing to set\n}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format := "hcl"
			if tt.yaml {
				format = "yaml"
			}
			out, diags := Migrate("t.conf", []byte(tt.src), MigrateOptions{Format: format, InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			rest := string(out)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks (or misorders)\n%s\n--- output:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
