package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// CacheDiff is how a backup's external cache differs from its primary's
// internal cache: the flows the backup lacks, those it holds that the
// primary does not, and those both hold with a different replicated
// field. A fault test ends with an empty one.
type CacheDiff struct {
	// Primary and Backup are how many flows each listing held.
	Primary, Backup int
	// Missing and Extra name flows (see flowName); Different says, for each
	// flow, which field differs and how.
	Missing, Extra, Different []string
}

// Empty reports whether the caches hold the same flows with the same
// replicated fields.
func (d CacheDiff) Empty() bool {
	return len(d.Missing) == 0 && len(d.Extra) == 0 && len(d.Different) == 0
}

// String is the diff for a test's failure message: the counts, then at
// most ten examples of each kind.
func (d CacheDiff) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "primary %d flows, backup %d: %d missing on the backup, %d extra, %d different",
		d.Primary, d.Backup, len(d.Missing), len(d.Extra), len(d.Different))
	for _, s := range []struct {
		what  string
		items []string
	}{{"missing", d.Missing}, {"extra", d.Extra}, {"different", d.Different}} {
		for i, it := range s.items {
			if i == 10 {
				fmt.Fprintf(&b, "\n  %s: ... and %d more", s.what, len(s.items)-i)
				break
			}
			fmt.Fprintf(&b, "\n  %s: %s", s.what, it)
		}
	}
	return b.String()
}

// localFields are the fields of a JSON flow listing that each node keeps
// for itself: the kernel's countdown (a backup's copy is refreshed by
// each message, not by packets), the cache object's state and ages, and
// ALARM's expiry. Every other field is one the sync messages carry.
var localFields = map[string]bool{"timeout": true, "entry": true, "age": true, "idle": true, "expires_in": true}

// DiffCaches compares two cache listings in the JSON form, one flow a
// line, that `ctsync dump --format json` and engine.Engine.Dump with
// control.JSON give (docs/control.md): primary is the primary's internal
// cache, backup its peer's external cache. Flows are matched by family,
// protocol, original tuple and zone, and compared on every field but
// those each node keeps for itself and those named in ignore: fields the
// configuration keeps off the link (wscale_orig and wscale_reply without
// TCP window tracking, for instance).
func DiffCaches(primary, backup []string, ignore ...string) (CacheDiff, error) {
	p, err := parseListing(primary)
	if err != nil {
		return CacheDiff{}, fmt.Errorf("primary's listing: %w", err)
	}
	b, err := parseListing(backup)
	if err != nil {
		return CacheDiff{}, fmt.Errorf("backup's listing: %w", err)
	}
	d := CacheDiff{Primary: len(p), Backup: len(b)}
	for k, pf := range p {
		bf, ok := b[k]
		if !ok {
			d.Missing = append(d.Missing, pf.name)
			continue
		}
		if diff := fieldDiff(pf.fields, bf.fields, ignore); diff != "" {
			d.Different = append(d.Different, pf.name+": "+diff)
		}
	}
	for k, bf := range b {
		if _, ok := p[k]; !ok {
			d.Extra = append(d.Extra, bf.name)
		}
	}
	sort.Strings(d.Missing)
	sort.Strings(d.Extra)
	sort.Strings(d.Different)
	return d, nil
}

type listedFlow struct {
	name   string
	fields map[string]json.RawMessage
}

// parseListing indexes a JSON listing by flow identity.
func parseListing(lines []string) (map[string]listedFlow, error) {
	out := make(map[string]listedFlow, len(lines))
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		var orig map[string]any
		if err := json.Unmarshal(f["orig"], &orig); err != nil {
			return nil, fmt.Errorf("line %d: no original tuple: %v", i+1, err)
		}
		name := flowName(string(f["proto"]), orig, string(f["zone"]))
		key := string(f["family"]) + " " + name
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", i+1, name)
		}
		out[key] = listedFlow{name: name, fields: f}
	}
	return out, nil
}

// flowName names a flow of a JSON listing by its protocol, its original
// tuple and, when not 0, its zone: `tcp 198.18.0.1:10000 -> 198.19.255.254:80`.
func flowName(proto string, orig map[string]any, zone string) string {
	proto = strings.Trim(proto, `"`)
	end := func(addr, port string) string {
		a := fmt.Sprint(orig[addr])
		if strings.Contains(a, ":") {
			a = "[" + a + "]"
		}
		if p, ok := orig[port]; ok {
			return fmt.Sprintf("%s:%v", a, p)
		}
		return a
	}
	s := fmt.Sprintf("%s %s -> %s", proto, end("src", "sport"), end("dst", "dport"))
	if _, ok := orig["sport"]; !ok {
		// Not a port protocol: show what identifies the flow instead.
		var extra []string
		for _, k := range []string{"srckey", "dstkey", "type", "code", "id"} {
			if v, ok := orig[k]; ok {
				extra = append(extra, fmt.Sprintf("%s=%v", k, v))
			}
		}
		if len(extra) > 0 {
			s += " " + strings.Join(extra, " ")
		}
	}
	if zone != "" && zone != "0" {
		s += " zone " + zone
	}
	return s
}

// fieldDiff describes the replicated fields in which a and b differ, ""
// if none.
func fieldDiff(a, b map[string]json.RawMessage, ignore []string) string {
	skip := func(k string) bool { return localFields[k] || slices.Contains(ignore, k) }
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	var keys []string
	for k := range names {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		if aok && bok && jsonEqual(av, bv) {
			continue
		}
		out = append(out, fmt.Sprintf("%s primary %s backup %s", k, shown(av, aok), shown(bv, bok)))
	}
	return strings.Join(out, "; ")
}

func shown(v json.RawMessage, ok bool) string {
	if !ok {
		return "(none)"
	}
	return string(v)
}

// jsonEqual compares two JSON values regardless of object key order.
func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
