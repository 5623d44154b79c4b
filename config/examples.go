package config

// Examples in messages. A hint that shows configuration shows it in the
// syntax of the file being checked, and every example is valid input: the
// table below is the only place they are written, and examples_test.go
// parses each one in its syntax (inside the block it belongs to, for an
// attribute; examples_legacy_test.go parses the legacy ones with package
// migrate). Details are one line, so a block example is one line too: HCL
// allows that only with a single attribute, YAML and JSON in flow form,
// conntrackd.conf anywhere. A converted legacy file gets legacy examples.

// exampleScope says where an example is written.
type exampleScope int

const (
	// atTop: at the top level of a file.
	atTop exampleScope = iota
	// inLink: inside a link block.
	inLink
)

type example struct {
	scope                   exampleScope
	hcl, json, yaml, legacy string
}

// The keys name the hint that shows the example.
var examples = map[string]example{
	"sync": {atTop,
		`sync "ftfw" {}`,
		`"sync": {"ftfw": {}}`,
		`sync: {ftfw: {}}`,
		`Sync { Mode FTFW { } }`},
	"link": {atTop,
		`link "primary" { transport = "udp" }`,
		`"link": {"primary": {"transport": "udp", "interface": "eth1", "peer": "192.0.2.2", "port": 3780}}`,
		`link: {primary: {transport: udp, interface: eth1, peer: 192.0.2.2, port: 3780}}`,
		`UDP { IPv4_address 192.0.2.1 IPv4_Destination_Address 192.0.2.2 Port 3780 Interface eth1 }`},
	"group": {inLink,
		`group = "225.0.0.50"`,
		`"group": "225.0.0.50"`,
		`group: 225.0.0.50`,
		`IPv4_address 225.0.0.50`},
	"group6": {inLink,
		`group = "ff02::1:50"`,
		`"group": "ff02::1:50"`,
		`group: "ff02::1:50"`,
		`IPv6_address ff02::1:50`},
	"peer": {inLink,
		`peer = "192.0.2.2"`,
		`"peer": "192.0.2.2"`,
		`peer: 192.0.2.2`,
		`IPv4_Destination_Address 192.0.2.2`},
	"port": {inLink,
		`port = 3780`,
		`"port": 3780`,
		`port: 3780`,
		`Port 3780`},
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
