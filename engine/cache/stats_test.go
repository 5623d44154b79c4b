package cache

import "testing"

// The layouts are those conntrackd 1.4.7 prints for `-s` and `-s cache`
// (captured from the Debian binary with every counter at 0); distinct
// values check that each counter lands in its column.
func TestStatsText(t *testing.T) {
	s := Stats{Active: 1, Objects: 2, Created: 3, CreateFailed: 4, CreateNoSpace: 5,
		Updated: 6, Destroyed: 7, DestroyFailed: 8, DestroyNotFound: 9}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"legacy zero", Stats{}.AppendText(nil, "internal"), "cache internal:\n" +
			"current active connections:\t           0\n" +
			"connections created:\t\t           0\tfailed:\t           0\n" +
			"connections updated:\t\t           0\tfailed:\t           0\n" +
			"connections destroyed:\t\t           0\tfailed:\t           0\n\n"},
		{"counters", s.AppendText([]byte("x"), "external"), "xcache external:\n" +
			"current active connections:\t           1\n" +
			"connections created:\t\t           3\tfailed:\t           4\n" +
			"connections updated:\t\t           6\tfailed:\t           0\n" +
			"connections destroyed:\t\t           7\tfailed:\t           8\n\n"},
		{"legacy zero extended", Stats{}.AppendExtended(nil, "internal"), "cache:internal\tactive objects:\t\t           0\n" +
			"\tactive/total entries:\t\t           0/           0\n" +
			"\tcreation OK/failed:\t\t           0/           0\n" +
			"\t\tno memory available:\t           0\n" +
			"\t\tno space left in cache:\t           0\n" +
			"\tupdate OK/failed:\t\t           0/           0\n" +
			"\t\tentry not found:\t           0\n" +
			"\tdeletion created/failed:\t           0/           0\n" +
			"\t\tentry not found:\t           0\n\n"},
		{"counters extended", s.AppendExtended(nil, "external"), "cache:external\tactive objects:\t\t           2\n" +
			"\tactive/total entries:\t\t           1/           2\n" +
			"\tcreation OK/failed:\t\t           3/           4\n" +
			"\t\tno memory available:\t           0\n" +
			"\t\tno space left in cache:\t           5\n" +
			"\tupdate OK/failed:\t\t           6/           0\n" +
			"\t\tentry not found:\t           0\n" +
			"\tdeletion created/failed:\t           7/           8\n" +
			"\t\tentry not found:\t           9\n\n"},
	}
	for _, tc := range tests {
		if string(tc.got) != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}
