package cache_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// An FTFW internal cache: kernel events update it, the transmit queue
// holds Refs and picks each message's type from the object's state when
// it sends, and a destroyed flow stays (dead) until its DEL is
// acknowledged.
func Example() {
	internal, err := cache.NewFlows(cache.Settings{Buckets: 65536, Limit: 262144})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f := cache.Flow{
		Orig: cache.Tuple{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.9"),
			Proto: 6, SrcPort: 40000, DstPort: 80},
		Has:    cache.HasStatus | cache.HasTimeout | cache.HasTCPState,
		Status: 0x8, Timeout: 120, TCPState: 1,
	}

	ref, _ := internal.Replace(&f, now) // NEW event
	fmt.Println("queued, sent as", internal.State(ref))

	f.TCPState, f.Timeout = 3, 432000
	internal.Update(&f, now.Add(time.Second)) // UPDATE event
	fmt.Println("queued, sent as", internal.State(ref))

	internal.Kill(f.Key()) // DESTROY event
	fmt.Println("queued, sent as", internal.State(ref), "- objects:", internal.Len())

	internal.Remove(ref) // the peer acknowledged the DEL
	var st []byte
	st = internal.Stats().AppendText(st, "internal")
	fmt.Print(string(st))
	// Output:
	// queued, sent as new
	// queued, sent as alive
	// queued, sent as dead - objects: 1
	// cache internal:
	// current active connections:	           0
	// connections created:		           1	failed:	           0
	// connections updated:		           1	failed:	           0
	// connections destroyed:		           1	failed:	           0
}
