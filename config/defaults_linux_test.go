package config_test

import (
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/link"
	"github.com/ctsync/ctsync/link/ftfw"
	"github.com/ctsync/ctsync/link/tcp"
)

// TestLinkDefaultsAgree ties the numbers the link packages declare for
// themselves (they must not import config) to config.Defaults, where the
// configuration takes them from: a link built from a validated configuration
// and one built with its own defaults must behave alike.
func TestLinkDefaultsAgree(t *testing.T) {
	tests := []struct {
		name       string
		link, conf int
	}{
		{"link.MaxLinks", link.MaxLinks, config.Defaults.MaxLinks},
		{"tcp.DefaultErrorQueueLength", tcp.DefaultErrorQueueLength, config.Defaults.ErrorQueueLength},
		{"ftfw.DefaultResendQueueSize", ftfw.DefaultResendQueueSize, config.Defaults.ResendQueueSize},
		{"ftfw.DefaultACKWindowSize", ftfw.DefaultACKWindowSize, config.Defaults.ACKWindowSize},
	}
	for _, tt := range tests {
		if tt.link != tt.conf {
			t.Errorf("%s = %d, config.Defaults has %d", tt.name, tt.link, tt.conf)
		}
	}
}
