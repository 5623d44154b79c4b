package config_test

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/migrate"
)

// legacyContexts says where each legacy example of a hint is written; %s
// stands for the example.
var legacyContexts = map[string]string{
	"sync":               "%s",
	"sync alarm":         "%s",
	"link":               "Sync { Mode FTFW { } %s }",
	"group":              "Sync { Mode FTFW { } Multicast { IPv4_interface 192.0.2.1 Group 3780 Interface eth1 %s } }",
	"group6":             "Sync { Mode FTFW { } Multicast { IPv6_interface ::1 Group 3780 Interface eth1 %s } }",
	"peer":               "Sync { Mode FTFW { } UDP { IPv4_address 192.0.2.1 Port 3780 Interface eth1 %s } }",
	"port":               "Sync { Mode FTFW { } UDP { IPv4_address 192.0.2.1 IPv4_Destination_Address 192.0.2.2 Interface eth1 %s } }",
	"overrun_resync off": "General { %s }",
	"run_in user":        "General { %s }",
	"stage protocol":     "General { Filter { %s } }",
	"stage address":      "General { Filter { %s } }",
	"stage tcp_state":    "General { Filter { %s } }",
}

// TestLegacyExamplesParse: the examples shown for a conntrackd.conf are
// valid conntrackd.conf, as conntrackd 1.4.7 reads it, in their place, and
// convert without error.
func TestLegacyExamplesParse(t *testing.T) {
	for _, key := range config.HintKeys() {
		text := config.HintIn(config.SyntaxLegacy, key)
		ctx, ok := legacyContexts[key]
		if !ok {
			t.Errorf("example %q has no context in legacyContexts", key)
			continue
		}
		src := strings.Replace(ctx, "%s", text, 1) + "\n"
		t.Run(key, func(t *testing.T) {
			lf, diags := migrate.Parse("example.conf", []byte(src), migrate.Options{Dialect: migrate.Dialect147})
			if diags.HasErrors() {
				t.Fatalf("example %q does not parse:\n%s\n%v", text, src, diags)
			}
			if _, _, cds := migrate.Convert(lf); cds.HasErrors() {
				t.Errorf("example %q does not convert:\n%s\n%v", text, src, cds)
			}
		})
	}
}
