package main

import (
	"errors"
	"strings"
	"testing"
)

// Before it builds anything, the demo says what the host lacks, and how
// to get it.
func TestCheckLabHost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		euid    int
		missing []string
		want    []string // substrings of the error; nil: no error
	}{
		{"root with every tool", 0, nil, nil},
		{"not root", 1000, nil, []string{"root (it runs as uid 1000: use sudo)"}},
		{"no nft", 0, []string{"nft"}, []string{"the nft command (apt-get install nftables)"}},
		{"nothing", 1000, []string{"ip", "nft", "conntrack"}, []string{"use sudo",
			"the ip command (apt-get install iproute2)",
			"the nft command (apt-get install nftables)",
			"the conntrack command (apt-get install conntrack)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookPath := func(name string) (string, error) {
				for _, m := range tc.missing {
					if m == name {
						return "", errors.New("not found")
					}
				}
				return "/usr/sbin/" + name, nil
			}
			err := checkLabHost(tc.euid, lookPath)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("checkLabHost: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkLabHost: nil, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("checkLabHost: %q lacks %q", err, w)
				}
			}
		})
	}
}
