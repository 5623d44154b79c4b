//go:build linux

package main

import "testing"

func TestBulkAcknowledged(t *testing.T) {
	at := func(queue int, datagrams uint64) stats {
		var s stats
		s.ResendQueue.Len = queue
		s.Sync.Datagrams = datagrams
		return s
	}
	for _, c := range []struct {
		name string
		s    stats
		want bool
	}{
		{"empty queue", at(0, 100), true},
		// The idle pair's steady state: fw1's own ACK waits for fw2's
		// next one. The figures waited for an empty queue and timed out
		// in one run in ten.
		{"only fw1's ACK sent after the bulk", at(1, 101), true},
		{"one entry, nothing sent since: it may be data", at(1, 100), false},
		{"data still unacknowledged", at(201, 101), false},
		{"fw1's ACK and one more", at(2, 105), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := bulkAcknowledged(c.s, 100); got != c.want {
				t.Errorf("bulkAcknowledged(queue %d, datagrams %d, sent 100) = %v, want %v",
					c.s.ResendQueue.Len, c.s.Sync.Datagrams, got, c.want)
			}
		})
	}
}
