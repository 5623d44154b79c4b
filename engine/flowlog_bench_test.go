package engine

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/ctnl"
)

// discard is a FlowLogOutput that keeps nothing.
type discard struct{}

func (discard) Write(time.Time, []byte) error { return nil }
func (discard) Reopen() error                 { return nil }
func (discard) Close() error                  { return nil }

// BenchmarkFlowLogEnded is the cost of one flow's life in stats mode:
// its NEW event cached, its DESTROY event (with counters and
// timestamps) logged as a line, the cache entry freed.
func BenchmarkFlowLogEnded(b *testing.B) {
	l, err := NewFlowLog(runtimeOfB(b, statsConf), FlowLogIO{Clock: newFakeClock(), Events: newFakeSource(), Table: newFakeTable(), Out: discard{}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	sink := flowLogSink{l}
	f := tcp("198.18.1.1", 1)
	f.Present |= ctnl.HasProtoInfo
	f.TCP.State = 3
	now := time.Now()
	g := ended(f, 10, 1500, now, time.Minute)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Orig.SrcPort, g.Orig.SrcPort = uint16(i), uint16(i)
		sink.NewFlow(now, f)
		sink.DestroyFlow(now, g)
	}
	if l.flows.Len() != 0 {
		b.Fatalf("%d flows left in the cache", l.flows.Len())
	}
}

func runtimeOfB(b *testing.B, src string) config.Runtime {
	b.Helper()
	f, diags := config.Parse("ctsync.hcl", []byte(src), config.LoadOptions{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	rt, diags := config.Validate(f, config.ValidateOptions{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	return rt
}

// BenchmarkFlowLogFileWrite is one line written to the flow log file:
// one write(2) per ended flow, as conntrackd's line-buffered file does.
func BenchmarkFlowLogFileWrite(b *testing.B) {
	f, err := OpenFlowLogFile(filepath.Join(b.TempDir(), "flows.log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line := []byte("tcp      6 ESTABLISHED src=198.18.0.1 dst=198.18.1.1 sport=1 dport=80 packets=10 bytes=1500 src=198.18.1.1 dst=198.18.0.1 sport=80 dport=1 packets=10 bytes=1500 delta-time=60")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Write(now, line); err != nil {
			b.Fatal(err)
		}
	}
}
