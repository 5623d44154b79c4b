package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/engine/control"
)

// A reload whose links could not be opened, nor the old ones reopened,
// leaves the engine without links. A later reload must still refuse links
// whose datagrams are smaller than the sync sessions were built for: the
// bound is the sessions', not the links' of the moment.
func TestReloadKeepsDatagramBound(t *testing.T) {
	f := newEngineOnFakes(t, `sync "ftfw" {}`+syncLink)
	next := runtimeOf(t, `sync "ftfw" {}`+strings.Replace(syncLink, "3780", "3781", 1))
	opens := 0
	f.openPeer = func([]config.LinkSettings) (Peer, error) {
		if opens++; opens <= 2 {
			return nil, errors.New("no such device")
		}
		return newMemPeer(500), nil
	}
	if err := f.Apply(next); err == nil {
		t.Fatal("a reload whose links do not open succeeded")
	}
	err := f.Apply(next)
	if err == nil || !strings.Contains(err.Error(), "restart to change the MTU down") {
		t.Fatalf("links of 500-byte datagrams under sessions built for 1400: %v, want a refusal", err)
	}
}

// A reload that could open neither the new links nor the old ones leaves
// the engine without links. Reloading the configuration that ran before
// (the operator reverts the file) must open them again: the engine runs
// no links, whatever its last good configuration says.
func TestReloadReopensLinksAfterFailure(t *testing.T) {
	f := newEngineOnFakes(t, `sync "ftfw" {}`+syncLink)
	orig := f.rt
	next := runtimeOf(t, `sync "ftfw" {}`+strings.Replace(syncLink, "3780", "3781", 1))
	opens := 0
	reopened := newMemPeer(1400)
	f.openPeer = func([]config.LinkSettings) (Peer, error) {
		if opens++; opens <= 2 {
			return nil, errors.New("no such device")
		}
		return reopened, nil
	}
	if err := f.Apply(next); err == nil {
		t.Fatal("a reload whose links do not open succeeded")
	}
	if err := f.Engine.peer.Send([]byte("x")); err == nil {
		t.Fatal("the engine sends without links")
	}
	if err := f.Apply(orig); err != nil {
		t.Fatalf("reloading the configuration that ran: %v", err)
	}
	if err := f.Engine.peer.Send([]byte("x")); err != nil {
		t.Errorf("after reloading the configuration that ran, the engine still has no links: %v", err)
	}
}

// A reload may run while a client lists a cache: what the listing reads
// of the configuration is read under the engine's lock (go test -race).
func TestReloadDuringDump(t *testing.T) {
	f := newEngineOnFakes(t, `sync "alarm" {}`+syncLink)
	next := runtimeOf(t, `sync "alarm" {
  purge_timeout = "5s"
}`+syncLink)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			f.Dump(context.Background(), control.External, control.Text, func([]byte) error { return nil })
		}
	}()
	for i := range 20 {
		rt := next
		if i%2 == 1 {
			rt = f.rt
		}
		if err := f.Apply(rt); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// Every setting a reload cannot apply is refused by name: one that a
// reload accepts and then ignores would leave the operator believing it
// in force.
func TestReloadRefusesWhatItCannotApply(t *testing.T) {
	const sync = `sync "ftfw" {}` + syncLink
	metrics := func(listen string) string { return "metrics {\n  listen = \"" + listen + "\"\n}\n" }
	tests := []struct{ name, old, new, want string }{
		{"event iteration limit", sync, "daemon {\n  event_iteration_limit = 7\n}\n" + sync, "event iteration limit changed"},
		// The daemon owns the endpoint and binds it at start.
		{"metrics endpoint added", sync, metrics("127.0.0.1:9724") + sync, "the metrics endpoint changed"},
		{"metrics endpoint moved", metrics("127.0.0.1:9724") + sync, metrics("127.0.0.1:9725") + sync, "the metrics endpoint changed"},
		{"metrics endpoint removed", metrics("127.0.0.1:9724") + sync, sync, "the metrics endpoint changed"},
		{"metrics endpoint kept", metrics("127.0.0.1:9724") + sync, metrics("127.0.0.1:9724") + sync, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEngineOnFakes(t, tt.old)
			err := f.Apply(runtimeOf(t, tt.new))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("reload: %v, want it applied", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("reload: %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
}
