// Package ipproto is the IP protocol database conntrackd 1.4.7 names
// protocols with, embedded so that every command gives the same answer on
// every machine.
//
// conntrackd resolves the names in "Protocol Accept|Ignore { ... }" with
// getprotobyname(3) (the filter_protocol_item actions of
// src/read_config_yy.y), which looks names and aliases up in /etc/protocols,
// case-sensitively: "SCTP" and "sctp" resolve, "Sctp" does not. The table
// here is Debian's /etc/protocols, the file the Debian conntrackd 1.4.7 reads.
package ipproto

import (
	_ "embed"
	"slices"
	"strconv"
	"strings"
)

// Entry is one line of the database.
type Entry struct {
	// Name is the official name, the first word of the line; in Debian's
	// file it is always lower case.
	Name    string
	Number  int
	Aliases []string
}

//go:embed protocols
var protocolsFile string

var (
	entries  = parse(protocolsFile)
	byName   = map[string]int{} // name or alias -> index of its entry
	byNumber = map[int]int{}    // number -> index of its first entry
	byFold   = map[string]int{} // lower-cased name or alias -> index
	names    []string           // every name and alias, sorted
)

func init() {
	for i, e := range entries {
		if _, dup := byNumber[e.Number]; !dup {
			byNumber[e.Number] = i
		}
		for _, n := range append([]string{e.Name}, e.Aliases...) {
			// getprotobyname returns the first line that has the name.
			if _, dup := byName[n]; !dup {
				byName[n] = i
				names = append(names, n)
			}
			if _, dup := byFold[strings.ToLower(n)]; !dup {
				byFold[strings.ToLower(n)] = i
			}
		}
	}
	slices.Sort(names)
}

// parse reads the /etc/protocols format as glibc does: "#" starts a
// comment, fields are separated by blanks, a line needs a name and a
// number, and lines that have neither are skipped.
func parse(text string) []Entry {
	var out []Entry
	for line := range strings.Lines(text) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			continue
		}
		out = append(out, Entry{Name: f[0], Number: n, Aliases: f[2:]})
	}
	return out
}

// OfficialNames returns the official name of every entry, in file order:
// the names a "did you mean" offers (an alias is never the better
// spelling).
func OfficialNames() []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

// ByName resolves a name as getprotobyname(3) does: an official name or an
// alias, matched exactly (case included).
func ByName(name string) (Entry, bool) {
	i, ok := byName[name]
	if !ok {
		return Entry{}, false
	}
	return entries[i], true
}

// ByNumber resolves a number as getprotobynumber(3) does: the first entry
// with that number, so 0 is "ip", not "hopopt".
func ByNumber(n int) (Entry, bool) {
	i, ok := byNumber[n]
	if !ok {
		return Entry{}, false
	}
	return entries[i], true
}

// Fold resolves a name or alias ignoring case, which conntrackd does not do:
// it is for suggestions ("Tcp" -> tcp) and for the model, which takes any
// case with a warning.
func Fold(name string) (Entry, bool) {
	i, ok := byFold[strings.ToLower(name)]
	if !ok {
		return Entry{}, false
	}
	return entries[i], true
}

// Names returns every name and alias conntrackd resolves, sorted.
func Names() []string {
	return slices.Clone(names)
}
