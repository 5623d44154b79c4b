package render

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/link"
)

// TestDocumentedFields: every JSON field a flow, an expectation or the
// statistics can have is listed in docs/control.md, where jq users look
// them up.
func TestDocumentedFields(t *testing.T) {
	doc, err := os.ReadFile("../../docs/control.md")
	if err != nil {
		t.Fatal(err)
	}
	all := cache.Flow{Orig: tuple("198.18.0.1", "198.18.0.2", 6, 1, 2), Has: ^cache.Attrs(0), SNAT: ip4("198.18.0.3"), DNAT: ip4("198.18.0.4")}
	e := cache.Entry{Flow: all, Created: t0}
	x := cache.ExpEntry{Expect: cache.Expect{Tuple: all.Orig, Has: ^cache.ExpAttrs(0)}, Created: t0}
	in := cache.Stats{}
	conn := true
	l := link.LinkStatus{Active: true, Server: &conn, Client: &conn}
	s := Snapshot{Internal: &in, External: &in, InternalExpect: &in, ExternalExpect: &in, Mode: "ftfw", Links: []link.LinkStatus{l}}
	for _, b := range [][]byte{
		AppendFlowJSONExpiring(nil, &e, t0, time.Minute),
		AppendExpectJSON(nil, &x, t0),
		AppendStatsJSON(nil, &s),
	} {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys(v, nil) {
			if !strings.Contains(string(doc), "`"+k+"`") {
				t.Errorf("field %s of %s is not in docs/control.md", k, b)
			}
		}
	}
}

// keys collects the object keys in v, at every depth.
func keys(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, w := range v {
			out = keys(w, append(out, k))
		}
	case []any:
		for _, w := range v {
			out = keys(w, out)
		}
	}
	return out
}
