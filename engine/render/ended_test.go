package render

import (
	"testing"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
)

// TestEndedText: each want is a line conntrackd 1.4.7 logged in stats
// mode (after its time stamp and tab) for the same flow, destroyed with
// `conntrack -D` in a namespace; the engine's privileged test compares
// the two daemons live.
func TestEndedText(t *testing.T) {
	base := cache.HasStatus | cache.HasMark
	tcp := base | cache.HasTCPState
	tests := []struct {
		name string
		e    Ended
		want string
	}{{
		name: "tcp established, marked",
		e:    Ended{Flow: cache.Flow{Orig: tuple("198.18.0.1", "198.18.0.2", 6, 1000, 80), Has: tcp, Status: seenReplyAssured, TCPState: 3, Mark: 7}},
		want: "tcp      6 ESTABLISHED src=198.18.0.1 dst=198.18.0.2 sport=1000 dport=80 src=198.18.0.2 dst=198.18.0.1 sport=80 dport=1000 [ASSURED] mark=7",
	}, {
		name: "zero mark left out, zone",
		e:    Ended{Flow: cache.Flow{Orig: tuple("2001:db8::1", "2001:db8::2", 6, 1000, 80), Zone: 3, Has: tcp, Status: confirmed, TCPState: 1}},
		want: "tcp      6 SYN_SENT src=2001:db8::1 dst=2001:db8::2 sport=1000 dport=80 [UNREPLIED] src=2001:db8::2 dst=2001:db8::1 sport=80 dport=1000 zone=3",
	}, {
		name: "udp unreplied",
		e:    Ended{Flow: cache.Flow{Orig: tuple("198.18.0.1", "198.18.0.2", 17, 1000, 53), Has: base, Status: confirmed}},
		want: "udp      17 src=198.18.0.1 dst=198.18.0.2 sport=1000 dport=53 [UNREPLIED] src=198.18.0.2 dst=198.18.0.1 sport=53 dport=1000",
	}, {
		name: "counters and timestamps",
		e: Ended{
			Flow: cache.Flow{Orig: cache.Tuple{Src: ip4("198.51.100.1"), Dst: ip4("198.51.100.1"), Proto: 1, ICMPType: 8, ICMPID: 22247},
				Has: base, Status: ipsSeenReply | confirmed},
			HasCounters: true, Orig: Traffic{Packets: 2, Bytes: 168}, Reply: Traffic{Packets: 2, Bytes: 168},
			Start: t0, Stop: t0.Add(5*time.Second + 900*time.Millisecond),
		},
		want: "icmp     1 src=198.51.100.1 dst=198.51.100.1 type=8 code=0 id=22247 packets=2 bytes=168 src=198.51.100.1 dst=198.51.100.1 type=0 code=0 id=22247 packets=2 bytes=168 delta-time=5",
	}, {
		name: "zero counters are printed",
		e: Ended{Flow: cache.Flow{Orig: tuple("198.18.0.1", "198.18.0.2", 17, 1000, 53), Has: base, Status: confirmed},
			HasCounters: true},
		want: "udp      17 src=198.18.0.1 dst=198.18.0.2 sport=1000 dport=53 packets=0 bytes=0 [UNREPLIED] src=198.18.0.2 dst=198.18.0.1 sport=53 dport=1000 packets=0 bytes=0",
	}, {
		name: "no stop: delta to now",
		e: Ended{Flow: cache.Flow{Orig: tuple("198.18.0.1", "198.18.0.2", 17, 1000, 53), Has: base, Status: seenReplyAssured},
			Start: t0.Add(-3 * time.Second)},
		want: "udp      17 src=198.18.0.1 dst=198.18.0.2 sport=1000 dport=53 src=198.18.0.2 dst=198.18.0.1 sport=53 dport=1000 [ASSURED] delta-time=3",
	}, {
		name: "source NAT shows in the reply",
		e: Ended{Flow: cache.Flow{Orig: tuple("198.51.100.10", "203.0.113.10", 6, 40000, 80), Has: tcp | cache.HasSNAT, Status: seenReplyAssured, TCPState: 7,
			SNAT: ip4("203.0.113.1")}},
		want: "tcp      6 TIME_WAIT src=198.51.100.10 dst=203.0.113.10 sport=40000 dport=80 src=203.0.113.10 dst=203.0.113.1 sport=80 dport=40000 [ASSURED]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEndedText(nil, &tt.e, t0)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// The time stamp is C's ctime: the day of the month padded with a space.
func TestAppendCtime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 29, 20, 3, 46, 0, time.UTC), "Sun Nov 29 20:03:46 2026"},
		{time.Date(2026, 3, 5, 7, 8, 9, 0, time.UTC), "Thu Mar  5 07:08:09 2026"},
	}
	for _, tt := range tests {
		if got := string(AppendCtime(nil, tt.t)); got != tt.want {
			t.Errorf("AppendCtime(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
