package migrate

import (
	"strings"
	"testing"
)

// A half-written Scheduler block: conntrackd 1.4.7 ignores Priority
// without Type (RR 99 runs) and fails on Type without Priority (the
// normal scheduler runs). The migrated file asks for what was written,
// with the default for the other half, and a warning says what
// conntrackd did.
func TestSchedulerHalves(t *testing.T) {
	const link = "Sync {\n Mode FTFW {\n }\n UDP {\n  IPv4_address 198.51.100.1\n  IPv4_Destination_Address 198.51.100.2\n  Port 3780\n  Interface eth1\n }\n}\n"
	tests := []struct {
		name         string
		block        string
		wantPolicy   string // "" for not written (the default, rr)
		wantPriority int64  // 0 for not written (the default, 99)
		warn         string
	}{
		{"both", "Type FIFO\n  Priority 10", "fifo", 10, ""},
		{"type only", "Type FIFO", "fifo", 0, "runs with the normal scheduler; ctsync applies FIFO at the default priority, 99"},
		{"priority only", "Priority 10", "", 10, "runs RR at priority 99; ctsync applies priority 10 with the default policy, RR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "General {\n Scheduler {\n  " + tt.block + "\n }\n}\n" + link
			lf, diags := Parse("t.conf", []byte(src), Options{InterfaceExists: func(string) bool { return true }})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			f, _, cds := Convert(lf)
			if cds.HasErrors() {
				t.Fatal(cds)
			}
			s := f.Scheduler
			if s == nil {
				t.Fatal("no scheduler block")
			}
			if got := deref(s.Policy); got != tt.wantPolicy {
				t.Errorf("policy %q, want %q", got, tt.wantPolicy)
			}
			if got := deref(s.Priority); got != tt.wantPriority {
				t.Errorf("priority %d, want %d", got, tt.wantPriority)
			}
			var warns []string
			for _, d := range cds {
				if d.Code == "legacy-quirk" {
					warns = append(warns, d.Message)
				}
			}
			joined := strings.Join(warns, "\n")
			if tt.warn == "" && joined != "" || !strings.Contains(joined, tt.warn) {
				t.Errorf("warnings %q, want one with %q", joined, tt.warn)
			}
		})
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
