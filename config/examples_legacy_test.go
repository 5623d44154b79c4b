package config_test

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/migrate"
)

// TestLegacyExamplesParse: the examples shown for a conntrackd.conf are
// valid conntrackd.conf, as conntrackd 1.4.7 reads it, in their place:
// top-level ones as they are, link attributes inside a link (a Multicast
// one for group addresses).
func TestLegacyExamplesParse(t *testing.T) {
	const udp = "UDP { IPv4_address 192.0.2.1 IPv4_Destination_Address 192.0.2.2 Port 3780 Interface eth1 %s }"
	const mcast = "Multicast { IPv4_interface 192.0.2.1 Group 3780 Interface eth1 %s }"
	for key, inLink := range config.HintKeys() {
		text := config.HintIn(config.SyntaxLegacy, key)
		src := text
		switch {
		case inLink && strings.HasPrefix(key, "group"):
			src = "Sync { Mode FTFW { } " + strings.Replace(mcast, "%s", text, 1) + " }"
		case inLink:
			// The example replaces the link's own setting of the same
			// keyword.
			word, _, _ := strings.Cut(text, " ")
			link := strings.Replace(udp, "%s", "", 1)
			if i := strings.Index(link, word+" "); i >= 0 {
				rest := link[i+len(word)+1:]
				_, rest, _ = strings.Cut(rest, " ")
				link = link[:i] + rest
			}
			src = "Sync { Mode FTFW { } " + strings.Replace(link, "}", text+" }", 1) + " }"
		case key == "link":
			src = "Sync { Mode FTFW { } " + text + " }"
		}
		t.Run(key, func(t *testing.T) {
			lf, diags := migrate.Parse("example.conf", []byte(src+"\n"), migrate.Options{Dialect: migrate.Dialect147})
			if diags.HasErrors() {
				t.Fatalf("example %q does not parse:\n%s\n%v", text, src, diags)
			}
			if _, _, cds := migrate.Convert(lf); cds.HasErrors() {
				t.Errorf("example %q does not convert:\n%s\n%v", text, src, cds)
			}
		})
	}
}
