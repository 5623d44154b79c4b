package config

import (
	"fmt"
	"strconv"
)

// Examples in messages. A hint that shows configuration shows it in the
// syntax of the file being checked (a converted legacy file gets
// conntrackd.conf), and every example is valid input: the table below is
// the only place they are written, and the tests parse each one, in its
// syntax, in the place it is written (examples_test.go, and
// examples_legacy_test.go with package migrate's parser). Details are one
// line, so a block example is one line too: HCL allows that only with a
// single attribute, YAML and JSON in flow form, conntrackd.conf anywhere.

type example struct {
	hcl, json, yaml, legacy string
}

// The keys name what the example shows.
var examples = map[string]example{
	"sync": {
		`sync "ftfw" {}`,
		`"sync": {"ftfw": {}}`,
		`sync: {ftfw: {}}`,
		`Sync { Mode FTFW { } }`},
	"sync alarm": {
		`sync "alarm" {}`,
		`"sync": {"alarm": {}}`,
		`sync: {alarm: {}}`,
		`Sync { Mode ALARM { } }`},
	"link": {
		`link "primary" { transport = "udp" }`,
		`"link": {"primary": {"transport": "udp", "interface": "eth1", "peer": "192.0.2.2", "port": 3780}}`,
		`link: {primary: {transport: udp, interface: eth1, peer: 192.0.2.2, port: 3780}}`,
		`UDP { IPv4_address 192.0.2.1 IPv4_Destination_Address 192.0.2.2 Port 3780 Interface eth1 }`},
	"group": {
		`group = "225.0.0.50"`,
		`"group": "225.0.0.50"`,
		`group: 225.0.0.50`,
		`IPv4_address 225.0.0.50`},
	"group6": {
		`group = "ff02::1:50"`,
		`"group": "ff02::1:50"`,
		`group: "ff02::1:50"`,
		`IPv6_address ff02::1:50`},
	"peer": {
		`peer = "192.0.2.2"`,
		`"peer": "192.0.2.2"`,
		`peer: 192.0.2.2`,
		`IPv4_Destination_Address 192.0.2.2`},
	"port": {
		`port = 3780`,
		`"port": 3780`,
		`port: 3780`,
		`Port 3780`},
	"overrun_resync off": {
		`overrun_resync = "off"`,
		`"overrun_resync": "off"`,
		`overrun_resync: "off"`,
		`NetlinkOverrunResync Off`},
	"run_in user": {
		`run_in = "user"`,
		`"run_in": "user"`,
		`run_in: user`,
		`Filter From Userspace { }`},
	"stage protocol": {
		`accept = ["tcp", "udp"]`,
		`"accept": ["tcp", "udp"]`,
		`accept: [tcp, udp]`,
		`Protocol Accept { TCP UDP }`},
	"stage address": {
		`ignore = ["127.0.0.1", "::1"]`,
		`"ignore": ["127.0.0.1", "::1"]`,
		`ignore: [127.0.0.1, "::1"]`,
		`Address Ignore { IPv4_address 127.0.0.1 IPv6_address ::1 }`},
	"stage tcp_state": {
		`accept = ["established"]`,
		`"accept": ["established"]`,
		`accept: [established]`,
		`State Accept { ESTABLISHED for TCP }`},
}

// exampleIn returns example key in syntax s (HCL unless JSON, YAML or
// legacy).
func exampleIn(s Syntax, key string) string {
	e, ok := examples[key]
	if !ok {
		panic("config: no example " + key)
	}
	switch s {
	case SyntaxJSON:
		return e.json
	case SyntaxYAML:
		return e.yaml
	case SyntaxLegacy:
		return e.legacy
	}
	return e.hcl
}

// example is exampleIn for the file being validated.
func (v *validator) example(key string) string { return exampleIn(v.syntax, key) }

// setting names a setting and its value, as the message's text says it
// ("has no effect with events_reliable = true"), in the file's syntax;
// value is written as in HCL, a quoted string or a bare word. A legacy
// file gets HCL, the model it was converted to.
func (v *validator) setting(key, value string) string {
	switch v.syntax {
	case SyntaxJSON:
		return fmt.Sprintf("%q: %s", key, value)
	case SyntaxYAML:
		if u, err := strconv.Unquote(value); err == nil {
			value = u
		}
		return key + ": " + value
	}
	return key + " = " + value
}
