package config

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJSONMatchesHCL: HCL's JSON syntax (what Nix's builtins.toJSON or
// Ansible's to_json produce) is only another spelling. The same
// configuration gives the same validated runtime, and the same mistake the
// same diagnostic, located in the JSON file.
func TestJSONMatchesHCL(t *testing.T) {
	lo := ValidateOptions{InterfaceExists: func(n string) bool { return n == "lo" }}
	hclSrc := `sync "ftfw" {
  resend_queue_size = 1000
}
filter {
  run_in = "kernel"
  stage "protocol" {
    accept = ["tcp", "udp"]
  }
}
link "a" {
  transport = "udp"
  default   = true
  interface = "lo"
  local     = "198.51.100.1"
  peer      = "198.51.100.2"
  port      = 3780
}
metrics {
  listen = "127.0.0.1:9724"
}
`
	jsonSrc := `{
  "sync": {"ftfw": {"resend_queue_size": 1000}},
  "filter": {"run_in": "kernel", "stage": {"protocol": {"accept": ["tcp", "udp"]}}},
  "link": {"a": {"transport": "udp", "default": true, "interface": "lo",
                 "local": "198.51.100.1", "peer": "198.51.100.2", "port": 3780}},
  "metrics": {"listen": "127.0.0.1:9724"}
}
`
	hf, hds := Parse("c.hcl", []byte(hclSrc), LoadOptions{})
	jf, jds := Parse("c.json", []byte(jsonSrc), LoadOptions{})
	if len(hds) > 0 || len(jds) > 0 {
		t.Fatalf("parse: hcl %v, json %v", hds, jds)
	}
	hrt, hvd := Validate(hf, lo)
	jrt, jvd := Validate(jf, lo)
	if len(hvd) > 0 || len(jvd) > 0 {
		t.Fatalf("validate: hcl %v, json %v", hvd, jvd)
	}
	if diff := cmp.Diff(hrt, jrt, netipComparers); diff != "" {
		t.Errorf("runtime differs (-hcl +json):\n%s", diff)
	}

	// The same diagnostic (code), located in the JSON, in JSON's words
	// (properties, arrays, objects) where HCL's decoder speaks HCL.
	mistakes := []struct{ name, hcl, json, wantPos, jsonWords string }{
		{"port out of range", "sync \"ftfw\" {}\nlink \"a\" {\n  transport = \"udp\"\n  interface = \"lo\"\n  peer = \"198.51.100.2\"\n  port = 70000\n}\n",
			"{\"sync\": {\"ftfw\": {}}, \"link\": {\"a\": {\"transport\": \"udp\", \"interface\": \"lo\",\n  \"peer\": \"198.51.100.2\", \"port\": 70000}}}\n", "c.json:2:35",
			`link "a": port 70000 is out of range`},
		{"misspelt attribute", "daemon {\n  lock_fil = \"/x\"\n}\n", "{\"daemon\": {\n  \"lock_fil\": \"/x\"}}\n", "c.json:2:3",
			`unsupported property "lock_fil"; did you mean "lock_file"?`},
		{"missing attribute", "link \"a\" {\n}\n", "{\"link\": {\"a\": {}}}\n", "c.json:1:17",
			`missing required property; the property "transport" is required`},
		{"metrics port out of range", "metrics {\n  listen = \"127.0.0.1:97240\"\n}\n", "{\"metrics\": {\n  \"listen\": \"127.0.0.1:97240\"}}\n", "c.json:2:13",
			`metrics: listen "127.0.0.1:97240": port 97240 is out of range; want 1 to 65535`},
		{"metrics without listen", "metrics {\n}\n", "{\"metrics\": {}}\n", "c.json:1:14",
			`missing required property; the property "listen" is required`},
		{"array for a string", "daemon {\n  lock_file = [\"/x\"]\n}\n", "{\"daemon\": {\"lock_file\": [\"/x\"]}}\n", "c.json:1:26",
			`daemon: lock_file: a string is required, got an array`},
	}
	hclTerms := regexp.MustCompile(`argument|[Bb]lock type|tuple`)
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			diagsOf := func(name, src string) Diagnostics {
				f, ds := Parse(name, []byte(src), LoadOptions{})
				if !ds.HasErrors() {
					_, vds := Validate(f, lo)
					ds = append(ds, vds...)
				}
				return ds
			}
			hd, jd := diagsOf("c.hcl", m.hcl), diagsOf("c.json", m.json)
			if len(hd) != 1 || len(jd) != 1 {
				t.Fatalf("want one diagnostic each; hcl %v, json %v", hd, jd)
			}
			if got := jd[0].Pos.String(); got != m.wantPos {
				t.Errorf("json diagnostic at %s, want %s", got, m.wantPos)
			}
			if hd[0].Code != jd[0].Code {
				t.Errorf("different codes:\nhcl:  %s %v\njson: %s %v", hd[0].Code, hd[0], jd[0].Code, jd[0])
			}
			words := jd[0].Message + "; " + jd[0].Detail
			if !strings.Contains(words, m.jsonWords) {
				t.Errorf("json says %q, want %q in it", words, m.jsonWords)
			}
			if w := hclTerms.FindString(words); w != "" {
				t.Errorf("json says %q: HCL's term %q", words, w)
			}
		})
	}
}

var netipComparers = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}
