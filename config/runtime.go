package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Runtime is a validated configuration: plain values with every default
// applied, so that the daemon never looks at syntax or asks "was this set?".
// It holds no pointers into the syntax model; slices are freshly allocated by
// Validate and must be treated as read-only, so a Runtime can be shared
// between goroutines and two Runtimes can be diffed (reflect.DeepEqual,
// go-cmp) to apply a reload.
//
// The block types are named <Block>Settings because the plain names belong
// to the syntax model in syntax.go.
type Runtime struct {
	// Mode is what the daemon does: replicate state (Sync), log flows (Stats)
	// or neither (helpers only).
	Mode      Mode
	Daemon    DaemonSettings
	Log       LogSettings
	Control   ControlSettings
	Metrics   MetricsSettings
	Netlink   NetlinkSettings
	Scheduler SchedulerSettings
	Filter    FilterSettings
	Caches    CacheSettings
	// Sync is meaningful only when Mode is ModeSync.
	Sync SyncSettings
	// Links are in configuration order, which is the fail-over order. Exactly
	// one has Default set when Mode is ModeSync: the link active at start-up,
	// which is the first link written with default = true, else the first.
	Links []LinkSettings
	// Stats is meaningful only when Mode is ModeStats.
	Stats   StatsSettings
	Helpers HelpersSettings
}

// ActiveLink returns the index in Links of the link active at start-up, or
// -1 when there are no links.
func (r Runtime) ActiveLink() int {
	for i, l := range r.Links {
		if l.Default {
			return i
		}
	}
	return -1
}

// DaemonSettings are process-wide settings (legacy General).
type DaemonSettings struct {
	LockFile string
	Systemd  bool
	// PollInterval > 0 selects polling mode (no event socket); 0 means events.
	PollInterval        time.Duration
	EventIterationLimit int
}

// LogSettings say where the daemon logs. Empty File and FacilityNone mean
// no log file and no syslog.
type LogSettings struct {
	File   string
	Syslog Facility
}

// ControlSettings describe the UNIX control socket. An empty Path means no
// control socket.
type ControlSettings struct {
	Path string
}

// MetricsSettings describe the Prometheus endpoint. An empty Listen means
// no endpoint.
type MetricsSettings struct {
	// Listen is the address to listen on, "host:port" as net.Listen
	// takes it (IPv6 hosts in brackets; an empty host is every address).
	Listen string
}

// NetlinkSettings tune the kernel event socket.
type NetlinkSettings struct {
	// BufferSize is the initial receive buffer in bytes; 0 keeps the
	// system default.
	BufferSize uint64
	// BufferSizeMaxGrowth is the ceiling for doubling the buffer after an
	// overrun; 0 means the buffer never grows.
	BufferSizeMaxGrowth uint64
	// OverrunResync is the delay before resyncing after an overrun; 0 means
	// disabled ("off").
	OverrunResync  time.Duration
	EventsReliable bool
}

// SchedulerSettings set real-time scheduling.
type SchedulerSettings struct {
	Policy   SchedPolicy
	Priority int
}

// FilterSettings are the event filter: a flow must pass every stage, in
// order. No stages means every flow passes.
type FilterSettings struct {
	RunIn  RunIn
	Stages []FilterStage
}

// FilterStage keeps (PolicyAccept) or drops (PolicyIgnore) the flows that
// match its set. Exactly one of Protocols, Prefixes and TCPStates is used,
// according to Kind. Entries keep the written order, without duplicates.
type FilterStage struct {
	Kind      StageKind
	Policy    FilterPolicy
	Protocols []uint8
	// Prefixes hold networks with host bits cleared; a host address is a
	// /32 or /128 prefix.
	Prefixes  []netip.Prefix
	TCPStates []TCPState
}

// CacheSettings are the two cache tiers.
type CacheSettings struct {
	Internal CacheTier
	External CacheTier
}

// CacheTier is one cache: Size hash buckets, at most Limit entries.
type CacheTier struct {
	Enabled bool
	Size    int
	Limit   int
}

// SyncSettings are the replication protocol and its options. Options that
// the mode does not use are zero: ResendQueueSize and ACKWindowSize are set
// for FTFW only, RefreshTime and CacheTimeout for ALARM only, and
// StartupResync is false for ALARM.
type SyncSettings struct {
	Mode            SyncMode
	ResendQueueSize int
	ACKWindowSize   int
	StartupResync   bool
	RefreshTime     time.Duration
	CacheTimeout    time.Duration
	// CommitTimeout is the fixed timeout of committed entries; 0 keeps the
	// timeout received from the peer.
	CommitTimeout      time.Duration
	PurgeTimeout       time.Duration
	TCPWindowTracking  bool
	ExpectationSync    bool
	ExpectationHelpers []string
}

// LinkSettings are one dedicated sync link.
type LinkSettings struct {
	Name      string
	Transport Transport
	// Default marks the link active at start-up (exactly one link has it).
	Default   bool
	Interface string
	// Group is the multicast group (multicast only); InterfaceAddress the
	// local address used to join it, invalid (zero) for "any".
	Group            netip.Addr
	InterfaceAddress netip.Addr
	// Local is the bind/listen address (zero: any address of Peer's family);
	// Peer the address to send to or connect to (udp, tcp).
	Local netip.Addr
	Peer  netip.Addr
	Port  uint16
	// SendBuffer and ReceiveBuffer are socket buffer sizes in bytes; 0
	// keeps the system default.
	SendBuffer    uint64
	ReceiveBuffer uint64
	Checksum      bool
	// ErrorQueueLength is set for tcp links only.
	ErrorQueueLength int
}

// Family returns the link's address family: FamilyInet or FamilyInet6.
func (l LinkSettings) Family() Family {
	for _, a := range []netip.Addr{l.Group, l.Peer, l.Local, l.InterfaceAddress} {
		if a.Is6() {
			return FamilyInet6
		}
		if a.Is4() {
			return FamilyInet
		}
	}
	return FamilyInet
}

// StatsSettings select where ended flows are logged.
type StatsSettings struct {
	LogFile string
	Syslog  Facility
}

// HelpersSettings are the user-space conntrack helpers; Enabled is true when
// the configuration has a helpers block (even an empty one, as in legacy).
type HelpersSettings struct {
	Enabled bool
	Setup   bool
	Helpers []HelperSettings
}

// HelperSettings attach one user-space helper to a family and protocol.
type HelperSettings struct {
	Name     string
	Family   Family
	Protocol uint8 // 6 (tcp) or 17 (udp)
	QueueNum uint16
	// QueueLen is the NFQUEUE length; 0 keeps the kernel default.
	QueueLen uint32
	Policies []HelperPolicySettings
}

// HelperPolicySettings override an expectation policy; as in conntrackd, a
// field not written is zero.
type HelperPolicySettings struct {
	Name          string
	ExpectMax     uint32
	ExpectTimeout time.Duration
}

// Enumerations. Each has String and MarshalText, and its names are the
// lower-case words of the configuration language.

// Mode is what the daemon does.
type Mode uint8

// The modes.
const (
	ModeNone Mode = iota
	ModeSync
	ModeStats
)

var modeNames = []string{"none", "sync", "stats"}

func (m Mode) String() string               { return enumString(modeNames, int(m)) }
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// SyncMode is the replication protocol.
type SyncMode uint8

// The sync modes.
const (
	SyncFTFW SyncMode = iota
	SyncNotrack
	SyncAlarm
)

var syncModeNames = []string{"ftfw", "notrack", "alarm"}

func (s SyncMode) String() string               { return enumString(syncModeNames, int(s)) }
func (s SyncMode) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Transport is a link's transport.
type Transport uint8

// The transports.
const (
	TransportMulticast Transport = iota
	TransportUDP
	TransportTCP
)

var transportNames = []string{"multicast", "udp", "tcp"}

func (t Transport) String() string               { return enumString(transportNames, int(t)) }
func (t Transport) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// StageKind is what a filter stage matches on.
type StageKind uint8

// The stage kinds.
const (
	StageProtocol StageKind = iota
	StageAddress
	StageTCPState
)

var stageKindNames = []string{"protocol", "address", "tcp_state"}

func (k StageKind) String() string               { return enumString(stageKindNames, int(k)) }
func (k StageKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// FilterPolicy says what a stage does with the flows in its set.
type FilterPolicy uint8

// The policies: accept keeps only the flows in the set, ignore drops them.
const (
	PolicyAccept FilterPolicy = iota
	PolicyIgnore
)

var filterPolicyNames = []string{"accept", "ignore"}

func (p FilterPolicy) String() string               { return enumString(filterPolicyNames, int(p)) }
func (p FilterPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// RunIn is where the filter chain runs.
type RunIn uint8

// The filter locations.
const (
	RunInUser RunIn = iota
	RunInKernel
)

var runInNames = []string{"user", "kernel"}

func (r RunIn) String() string               { return enumString(runInNames, int(r)) }
func (r RunIn) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// SchedPolicy is a real-time scheduling policy, or SchedOther for none.
type SchedPolicy uint8

// The policies. SchedOther, the normal scheduler, has no conntrackd
// equivalent: without a Scheduler block conntrackd 1.4.5+ runs SCHED_RR
// at 99.
const (
	SchedRR SchedPolicy = iota
	SchedFIFO
	SchedOther
)

var schedPolicyNames = []string{"rr", "fifo", "other"}

func (p SchedPolicy) String() string               { return enumString(schedPolicyNames, int(p)) }
func (p SchedPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Facility is a syslog facility; FacilityNone means no syslog.
type Facility uint8

// The facilities conntrackd accepts.
const (
	FacilityNone Facility = iota
	FacilityDaemon
	FacilityLocal0
	FacilityLocal1
	FacilityLocal2
	FacilityLocal3
	FacilityLocal4
	FacilityLocal5
	FacilityLocal6
	FacilityLocal7
)

var facilityNames = []string{"none", "daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

func (f Facility) String() string               { return enumString(facilityNames, int(f)) }
func (f Facility) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Family is an address family; the values are the kernel's AF_ numbers.
type Family uint8

// The families.
const (
	FamilyInet  Family = 2  // AF_INET
	FamilyInet6 Family = 10 // AF_INET6
)

func (f Family) String() string {
	switch f {
	case FamilyInet:
		return "inet"
	case FamilyInet6:
		return "inet6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// MarshalText prints the family's name.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// TCPState is a conntrack TCP state; the values are the kernel's
// (enum tcp_conntrack), so filters can compare them directly.
type TCPState uint8

// The TCP states a filter can name.
const (
	TCPSynSent     TCPState = 1 // TCP_CONNTRACK_SYN_SENT
	TCPSynRecv     TCPState = 2 // TCP_CONNTRACK_SYN_RECV
	TCPEstablished TCPState = 3 // TCP_CONNTRACK_ESTABLISHED
	TCPFinWait     TCPState = 4 // TCP_CONNTRACK_FIN_WAIT
	TCPCloseWait   TCPState = 5 // TCP_CONNTRACK_CLOSE_WAIT
	TCPLastAck     TCPState = 6 // TCP_CONNTRACK_LAST_ACK
	TCPTimeWait    TCPState = 7 // TCP_CONNTRACK_TIME_WAIT
	TCPClose       TCPState = 8 // TCP_CONNTRACK_CLOSE
	TCPListen      TCPState = 9 // TCP_CONNTRACK_LISTEN (today SYN_SENT2), as conntrackd names it
)

// tcpStateNames is indexed by TCPState.
var tcpStateNames = []string{"", "syn_sent", "syn_recv", "established", "fin_wait", "close_wait", "last_ack", "time_wait", "close", "listen"}

func (s TCPState) String() string               { return enumString(tcpStateNames, int(s)) }
func (s TCPState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func enumString(names []string, i int) string {
	if i >= 0 && i < len(names) && names[i] != "" {
		return names[i]
	}
	return fmt.Sprintf("%d", i)
}
