package config

import "time"

// DefaultValues are the legacy daemon's defaults (conntrackd 1.4.7: the
// grammar actions of src/read_config_yy.y, init_config() at its end, and
// the mode init functions in src/sync-*.c) and its fixed limits, written
// down once.
// Validate fills them in; the exporter, migrate and the mapping document
// read them from Defaults so that "the default" means one thing everywhere.
type DefaultValues struct {
	// Caches (legacy HashSize, HashLimit), for every tier.
	HashSize  int
	HashLimit int

	// Daemon.
	LockFile            string
	Systemd             bool
	EventIterationLimit int

	// Netlink. Buffer sizes default to the kernel's (0).
	NetlinkOverrunResync time.Duration

	// Scheduler.
	SchedulerPolicy   SchedPolicy
	SchedulerPriority int

	// Filter.
	FilterRunIn RunIn

	// Sync, per mode.
	ResendQueueSize int           // ftfw
	ACKWindowSize   int           // ftfw
	RefreshTime     time.Duration // alarm
	CacheTimeout    time.Duration // alarm
	PurgeTimeout    time.Duration // every mode
	// CommitTimeout 0 keeps the timeout received from the peer.
	CommitTimeout time.Duration

	// Links.
	Checksum         bool
	ErrorQueueLength int // tcp

	// What legacy "on" means for LogFile and Syslog (used by migrate).
	LogFile        string
	StatsLogFile   string
	SyslogFacility Facility

	// Limits of the legacy daemon and of the kernel.
	MaxLinks            int    // dedicated links per configuration
	MaxPath             int    // bytes in a lock or log file name (FILENAME_MAXLEN)
	MaxControlPath      int    // bytes in a UNIX socket path (sun_path minus NUL)
	MaxSocketBuffer     uint64 // SO_SNDBUF/SO_RCVBUF take an int
	KernelFilterMaxIPv4 int    // entries the kernel-space address filter holds
	KernelFilterMaxIPv6 int
}

// Defaults holds the values Validate applies when an attribute is not
// written. Treat it as read-only.
var Defaults = DefaultValues{
	HashSize:  65536,
	HashLimit: 262144,

	LockFile:            "/var/lock/conntrackd.lock",
	Systemd:             true,
	EventIterationLimit: 100,

	NetlinkOverrunResync: 30 * time.Second,

	SchedulerPolicy:   SchedRR,
	SchedulerPriority: 99,

	FilterRunIn: RunInUser,

	ResendQueueSize: 131072,
	ACKWindowSize:   300,
	RefreshTime:     60 * time.Second,
	CacheTimeout:    180 * time.Second,
	PurgeTimeout:    60 * time.Second,
	CommitTimeout:   0,

	Checksum:         true,
	ErrorQueueLength: 128,

	LogFile:        "/var/log/conntrackd.log",
	StatsLogFile:   "/var/log/conntrackd-stats.log",
	SyslogFacility: FacilityDaemon,

	MaxLinks:            4,
	MaxPath:             256,
	MaxControlPath:      107,
	MaxSocketBuffer:     1<<31 - 1,
	KernelFilterMaxIPv4: 127,
	KernelFilterMaxIPv6: 20,
}
