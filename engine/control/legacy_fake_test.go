package control

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// The fake's methods for conntrackd's command line.

func (f *fake) CommitTable(ctx context.Context, table Table, progress func(Progress)) error {
	f.record("commit " + string(table))
	return f.report(ctx, "commit", progress)
}

func (f *fake) ResyncKernel(ctx context.Context, table Table, progress func(Progress)) error {
	f.record("resync kernel " + string(table))
	return f.report(ctx, "resync", progress)
}

func (f *fake) DumpExpect(ctx context.Context, cache Cache, format Format, emit Emit) error {
	f.record(fmt.Sprintf("dump expect %s %s", cache, format))
	if err := emit([]byte("300 proto=6 src=198.51.100.1 dst=203.0.113.1 sport=0 dport=40000")); err != nil {
		return err
	}
	return f.err
}

func (f *fake) StatsSection(ctx context.Context, section Section, emit Emit) error {
	f.record("stats section " + string(section))
	if err := emit([]byte(string(section) + " statistics:")); err != nil {
		return err
	}
	return f.err
}

func (f *fake) FlushKernel(ctx context.Context, table Table) error {
	f.record("flush-kernel " + string(table))
	return f.err
}

// Requests with a table or a section reach the methods that take them;
// those without reach the original ones, so version 1 clients see no
// change.
func TestLegacyDispatch(t *testing.T) {
	tests := []struct {
		req  Request
		call string
		data []string
	}{
		{Request{Command: Commit}, "commit", nil},
		{Request{Command: Commit, Table: Expectations}, "commit expect", nil},
		{Request{Command: Resync, Kernel: true}, "resync kernel=true", nil},
		{Request{Command: Resync, Kernel: true, Table: Conntracks}, "resync kernel ct", nil},
		{Request{Command: Dump, Cache: External, Table: Expectations, Format: XML}, "dump expect external xml", []string{"300 proto=6 src=198.51.100.1 dst=203.0.113.1 sport=0 dport=40000"}},
		{Request{Command: Dump, Cache: Internal, Table: Conntracks, Format: XML}, "dump internal xml", nil},
		{Request{Command: Stats, Section: SectionQueue}, "stats section queue", []string{"queue statistics:"}},
		{Request{Command: FlushKernel}, "flush-kernel ", nil},
		{Request{Command: FlushKernel, Table: Expectations}, "flush-kernel expect", nil},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			h := &fake{lines: 0}
			s := serve(t, h, Options{})
			var c collect
			if err := c.do(context.Background(), s.path, tt.req); err != nil {
				t.Fatal(err)
			}
			if calls := h.Calls(); !slices.Equal(calls, []string{tt.call}) {
				t.Errorf("calls %q, want %q", calls, tt.call)
			}
			if tt.data != nil && !slices.Equal(c.data, tt.data) {
				t.Errorf("data %q, want %q", c.data, tt.data)
			}
		})
	}
}

// stop reaches the server's owner, and the client has its result before
// the owner shuts down; a server without an owner to stop refuses it.
func TestStop(t *testing.T) {
	stopped := make(chan struct{}, 1)
	s := serve(t, &fake{}, Options{Stop: func() error { stopped <- struct{}{}; return nil }})
	if err := Run(context.Background(), s.path, Request{Command: Stop}, nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Stop not called")
	}

	s = serve(t, &fake{}, Options{})
	err := Run(context.Background(), s.path, Request{Command: Stop}, nil, nil)
	if ce, ok := err.(*Error); !ok || ce.Code != CodeUnknown {
		t.Errorf("got %v, want an %q error", err, CodeUnknown)
	}
}
