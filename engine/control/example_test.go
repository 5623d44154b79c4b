package control_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/engine/control"
)

// cacheHandler answers a dump with two flows; the engine answers with its
// caches.
type cacheHandler struct{}

func (cacheHandler) Dump(ctx context.Context, c control.Cache, f control.Format, emit control.Emit) error {
	for _, l := range []string{
		"tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.7 sport=40000 dport=443 [ASSURED]",
		"udp      17 29 src=198.51.100.1 dst=203.0.113.53 sport=40001 dport=53",
	} {
		if err := emit([]byte(l)); err != nil {
			return err
		}
	}
	return nil
}

func (cacheHandler) Commit(context.Context, func(control.Progress)) error       { return nil }
func (cacheHandler) Flush(context.Context, control.Cache) error                 { return nil }
func (cacheHandler) Resync(context.Context, bool, func(control.Progress)) error { return nil }
func (cacheHandler) Bulk(context.Context) error                                 { return nil }
func (cacheHandler) Purge(context.Context) error                                { return nil }
func (cacheHandler) Reload(context.Context) error                               { return nil }
func (cacheHandler) Stats(context.Context, control.Format, control.Emit) error  { return nil }

func (cacheHandler) CommitTable(context.Context, control.Table, func(control.Progress)) error {
	return nil
}
func (cacheHandler) ResyncKernel(context.Context, control.Table, func(control.Progress)) error {
	return nil
}
func (cacheHandler) DumpExpect(context.Context, control.Cache, control.Format, control.Emit) error {
	return nil
}
func (cacheHandler) StatsSection(context.Context, control.Section, control.Emit) error { return nil }
func (cacheHandler) FlushKernel(context.Context, control.Table) error                  { return nil }
func (cacheHandler) ResyncWait(context.Context, func(control.Progress)) error {
	return nil
}
func (cacheHandler) Readiness(context.Context) (control.Readiness, error) {
	return control.Readiness{}, nil
}

// A daemon serves its control socket; `ctsync dump internal` is one Run.
func Example() {
	dir, _ := os.MkdirTemp("", "ctl")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ctsync.ctl")

	l, err := net.Listen("unix", path) // a daemon uses control.Listen
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	srv := control.NewServer(cacheHandler{}, control.Options{})
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, l) }()

	err = control.Run(context.Background(), path,
		control.Request{Command: control.Dump, Cache: control.Internal},
		nil, control.WriteLines(os.Stdout))
	fmt.Println("error:", err)

	stop()
	<-done
	// Output:
	// tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=203.0.113.7 sport=40000 dport=443 [ASSURED]
	// udp      17 29 src=198.51.100.1 dst=203.0.113.53 sport=40001 dport=53
	// error: <nil>
}
