package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumented: docs/metrics.md has a row for every metric exposed,
// with its type and labels, and none for a metric that is not.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `ctsync_name` | type | `label`, `label` | meaning | JSON |
	row := regexp.MustCompile("(?m)^\\| `(ctsync_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2] + " " + strings.TrimSpace(strings.NewReplacer("`", "", ",", "").Replace(m[3]))
	}
	exposed := map[string]string{}
	for _, mf := range gather(t, NewCollector(fullSnapshot)) {
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		exposed[mf.GetName()] = strings.TrimSpace(strings.ToLower(mf.GetType().String()) + " " + strings.Join(labels, " "))
	}
	for name, how := range exposed {
		switch d, ok := documented[name]; {
		case !ok:
			t.Errorf("%s is exposed but docs/metrics.md does not list it", name)
		case sorted(d) != sorted(how):
			t.Errorf("docs/metrics.md says %s is %q, it is %q (type, then labels)", name, d, how)
		}
	}
	for name := range documented {
		if _, ok := exposed[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which is not exposed", name)
		}
	}
	for _, std := range []string{"`go_*`", "`process_*`"} {
		if !strings.Contains(string(doc), std) {
			t.Errorf("docs/metrics.md does not mention the standard %s metrics", std)
		}
	}
}

// sorted is the type followed by the labels in order, so that the
// documentation may list labels in its own order.
func sorted(s string) string {
	f := strings.Fields(s)
	if len(f) > 1 {
		slices.Sort(f[1:])
	}
	return strings.Join(f, " ")
}
