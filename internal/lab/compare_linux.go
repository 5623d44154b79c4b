package lab

import (
	"fmt"
	"slices"
	"strings"
)

// FlowKey is what identifies a flow in a line of `conntrack -L` or of
// `ctsync dump` (text): the protocol's name, the original direction's
// tuple and the zone. Timeouts, counters, marks and "[active since]"
// differ between a kernel table and a cache of it and are left out. It
// returns "" for a line that lists no flow.
func FlowKey(line string) string {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return ""
	}
	key := []string{fields[0]}
	srcs := 0
	for _, f := range fields[1:] {
		name, _, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch name {
		case "src":
			// The second src= starts the reply tuple.
			srcs++
			if srcs > 1 {
				continue
			}
		case "dst", "sport", "dport", "type", "code", "id":
			if srcs > 1 {
				continue
			}
		case "zone", "zone-orig":
		default:
			continue
		}
		key = append(key, f)
	}
	if srcs == 0 {
		return ""
	}
	return strings.Join(key, " ")
}

// DiffFlows compares two listings of flows (lines of `conntrack -L` or
// `ctsync dump`) by FlowKey: it returns "" when both hold the same flows,
// else a report for a test's failure message of what b lacks and what it
// holds that a does not, at most show of each.
func DiffFlows(aName string, a []string, bName string, b []string, show int) string {
	as, bs := flowSet(a), flowSet(b)
	var missing, extra []string
	for k := range as {
		if !bs[k] {
			missing = append(missing, k)
		}
	}
	for k := range bs {
		if !as[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%s holds %d flows, %s %d:", aName, len(as), bName, len(bs))
	list := func(what string, keys []string) {
		if len(keys) == 0 {
			return
		}
		slices.Sort(keys)
		fmt.Fprintf(&out, "\n%d %s", len(keys), what)
		for i, k := range keys {
			if i == show {
				fmt.Fprintf(&out, "\n  ... and %d more", len(keys)-show)
				break
			}
			fmt.Fprintf(&out, "\n  %s", k)
		}
	}
	list(fmt.Sprintf("missing from %s:", bName), missing)
	list(fmt.Sprintf("extra in %s (not in %s):", bName, aName), extra)
	return out.String()
}

func flowSet(lines []string) map[string]bool {
	m := make(map[string]bool, len(lines))
	for _, l := range lines {
		if k := FlowKey(l); k != "" {
			m[k] = true
		}
	}
	return m
}
