package legacyd

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGeneralParses: the section every test daemon starts from is one
// conntrackd accepts, with the extra directives in place and every file in
// the daemon's directory. conntrackd -C FILE -s parses the file, then fails
// to reach a daemon (the control socket does not exist).
func TestGeneralParses(t *testing.T) {
	Require(t)
	f := FilesIn(t.TempDir())
	conf := "Sync { Mode FTFW { } UDP { IPv4_address 127.0.0.1 IPv4_Destination_Address 127.0.0.2 Port 3780 Interface lo } }\n" +
		General(f, "\tNetlinkEventsReliable off\n")
	for _, p := range []string{f.LogFile, f.LockFile, f.Socket} {
		if !strings.HasPrefix(p, f.Dir+"/") || !strings.Contains(conf, p) {
			t.Errorf("%s is not a file of %s in the configuration:\n%s", p, f.Dir, conf)
		}
	}
	if err := os.WriteFile(f.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(Command, "-C", f.Conf, "-s").CombinedOutput()
	if !strings.Contains(string(out), "can't connect") || strings.Contains(string(out), "parsing") {
		t.Errorf("conntrackd does not parse the configuration:\n%s\n%s", out, conf)
	}
}
