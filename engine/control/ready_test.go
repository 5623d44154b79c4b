package control

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fake's readiness and waiting resync.

func (f *fake) ResyncWait(ctx context.Context, progress func(Progress)) error {
	f.record("resync wait")
	return f.report(ctx, "resync", progress)
}

func (f *fake) Readiness(ctx context.Context) (Readiness, error) {
	f.record("ready")
	return f.readiness, f.err
}

// ready reaches Handler.Readiness and its answer reaches the client intact;
// a failure is a failure, not a readiness.
func TestReady(t *testing.T) {
	since := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	for _, want := range []Readiness{
		{Ready: true, Reason: "resync from the peer complete (12 flows), nothing unacknowledged", Since: since},
		{Ready: false, Reason: "waiting for the peer's table: resync requested 3s ago, no answer yet"},
	} {
		h := &fake{readiness: want}
		s := serve(t, h, Options{})
		got, err := AskReady(context.Background(), s.path)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Since.Equal(want.Since) || got.Ready != want.Ready || got.Reason != want.Reason {
			t.Errorf("AskReady = %+v, want %+v", got, want)
		}
		if calls := h.Calls(); !slices.Equal(calls, []string{"ready"}) {
			t.Errorf("calls %q", calls)
		}
	}
	h := &fake{err: errors.New("engine stopped")}
	s := serve(t, h, Options{})
	if _, err := AskReady(context.Background(), s.path); err == nil || !strings.Contains(err.Error(), "engine stopped") {
		t.Errorf("AskReady with a failing handler: %v, want its error", err)
	}
}

// The one line `ctsync ready` prints.
func TestReadinessString(t *testing.T) {
	if got := (Readiness{Ready: true, Reason: "x"}).String(); got != "ready: x" {
		t.Errorf("%q", got)
	}
	if got := (Readiness{Reason: "y"}).String(); got != "not ready: y" {
		t.Errorf("%q", got)
	}
}

// resync with wait reaches ResyncWait, its progress reaches the client;
// without wait, Resync as before (conntrackd -n returns at once).
func TestResyncWait(t *testing.T) {
	h := &fake{steps: 3}
	s := serve(t, h, Options{ProgressInterval: time.Nanosecond})
	var c collect
	if err := c.do(context.Background(), s.path, Request{Command: Resync, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.do(context.Background(), s.path, Request{Command: Resync}); err != nil {
		t.Fatal(err)
	}
	if calls := h.Calls(); !slices.Equal(calls, []string{"resync wait", "resync kernel=false"}) {
		t.Errorf("calls %q", calls)
	}
	if len(c.progress) == 0 || c.progress[0].Stage != "resync" {
		t.Errorf("progress %+v, want resync lines", c.progress)
	}
}

// What ready and wait take, and what they refuse.
func TestReadyWaitValidate(t *testing.T) {
	tests := []struct {
		req  Request
		want string // "" valid, else part of the refusal
	}{
		{Request{Version: 1, Command: Ready}, ""},
		{Request{Version: 1, Command: Ready, Format: JSON}, ""},
		{Request{Version: 1, Command: Ready, Format: Text}, "format must be \"json\""},
		{Request{Version: 1, Command: Resync, Wait: true}, ""},
		{Request{Version: 1, Command: Resync, Wait: true, Kernel: true}, "wait is only for a resync from the peer"},
		{Request{Version: 1, Command: Commit, Wait: true}, "wait is only for a resync"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.req, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: %v, want %q", tt.req, err, tt.want)
		}
	}
	if _, err := DecodeRequest([]byte(`{"version":1,"command":"resync","wait":true}`)); err != nil {
		t.Errorf("decoding wait: %v", err)
	}
}
