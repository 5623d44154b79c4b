package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// The syntax structs below are what a configuration file says, before any
// checking. Every front end (HCL native, HCL JSON, YAML, and migrate for
// legacy files) produces a File; Validate turns a File into a Runtime.
//
// Conventions:
//   - an optional scalar is a pointer, so "not written" differs from "written
//     as zero"; Validate applies the defaults in defaults.go;
//   - values that need checking with a location (addresses, sizes, durations,
//     enumerations) stay strings here and are parsed in Validate;
//   - Node records where the block and each attribute came from.
//
// Field tags use gohcl's vocabulary ("name,attr", "name,block", "name,label")
// but are read by this package's own decoder (decode.go), which also fills
// Node and is shared by the HCL and YAML front ends. The order of fields is
// the order in which writers emit them. A `write:"size"` tag marks a size
// that the writers emit as a bare number when it is plain bytes
// (send_buffer = 262142): a number is a size in bytes, and a quoted
// "262142" reads as if it were not one.

// Node records the source range of a block and of each of its attributes.
type Node struct {
	// DefRange is the block's header ("link "a"") or, for the file, empty.
	DefRange hcl.Range
	// Attrs maps an attribute name (as written, e.g. "port") to the range of
	// its value expression, and "name[i]" to element i of a list.
	Attrs map[string]hcl.Range
	// Labels holds the ranges of the block's labels, in order.
	Labels []hcl.Range
}

// AttrRange returns where attribute name was written, or the block header.
func (n Node) AttrRange(name string) hcl.Range {
	if r, ok := n.Attrs[name]; ok {
		return r
	}
	return n.DefRange
}

// ElemRange returns where element i of list attribute name was written,
// or the whole attribute when the front end does not know.
func (n Node) ElemRange(name string, i int) hcl.Range {
	if r, ok := n.Attrs[fmt.Sprintf("%s[%d]", name, i)]; ok {
		return r
	}
	return n.AttrRange(name)
}

// File is one configuration.
type File struct {
	Node
	// Syntax is what the file was written in; messages speak it.
	Syntax Syntax
	// Source is the file's text, for the snippets of diagnostics; nil when
	// the File was built otherwise.
	Source *Source

	Variables []Variable `hcl:"variable,block"`
	Daemon    *Daemon    `hcl:"daemon,block"`
	Log       *Log       `hcl:"log,block"`
	Control   *Control   `hcl:"control,block"`
	Metrics   *Metrics   `hcl:"metrics,block"`
	Netlink   *Netlink   `hcl:"netlink,block"`
	Scheduler *Scheduler `hcl:"scheduler,block"`
	Filter    *Filter    `hcl:"filter,block"`
	Caches    []Cache    `hcl:"cache,block"`
	Sync      *Sync      `hcl:"sync,block"`
	Links     []Link     `hcl:"link,block"`
	Stats     *Stats     `hcl:"stats,block"`
	Helpers   *Helpers   `hcl:"helpers,block"`
}

// Variable declares a template variable that -var, -var-file and
// CTSYNC_VAR_<name> may set; var.<name> refers to it. Only meaningful in HCL
// sources; Default is evaluated without variables.
type Variable struct {
	Node
	Name        string         `hcl:"name,label"`
	Default     hcl.Expression `hcl:"default,attr"`
	Description *string        `hcl:"description,attr"`
}

// Daemon holds process-wide settings (legacy General).
type Daemon struct {
	Node
	LockFile *string `hcl:"lock_file,attr"`
	Systemd  *bool   `hcl:"systemd,attr"`
	// PollInterval switches from kernel events to polling the table every
	// interval (legacy PollSecs). A duration, whole seconds.
	PollInterval        *string `hcl:"poll_interval,attr"`
	EventIterationLimit *int64  `hcl:"event_iteration_limit,attr"`
}

// Log says where the daemon logs.
type Log struct {
	Node
	// File is the log file path; unset means no log file.
	File *string `hcl:"file,attr"`
	// Syslog is the syslog facility (daemon, local0..local7); unset means no syslog.
	Syslog *string `hcl:"syslog,attr"`
}

// Control is the UNIX control socket.
type Control struct {
	Node
	Path *string `hcl:"path,attr"`
}

// Metrics turns on the Prometheus endpoint, which conntrackd has not: an
// HTTP server on Listen answering GET /metrics. No block, no endpoint.
type Metrics struct {
	Node
	// Listen is "host:port" ("127.0.0.1:9724", "[::1]:9724"); an empty
	// host listens on every address (":9724").
	Listen string `hcl:"listen,attr"`
}

// Netlink tunes the kernel event socket.
type Netlink struct {
	Node
	// BufferSize is the initial receive buffer, a size ("2MiB" or bytes).
	BufferSize *string `hcl:"buffer_size,attr" write:"size"`
	// BufferSizeMaxGrowth is the ceiling for growing it after overruns.
	BufferSizeMaxGrowth *string `hcl:"buffer_size_max_growth,attr" write:"size"`
	// OverrunResync is the delay before resyncing with the kernel after an
	// event overrun: a duration, or "off".
	OverrunResync  *string `hcl:"overrun_resync,attr"`
	EventsReliable *bool   `hcl:"events_reliable,attr"`
}

// Scheduler sets real-time scheduling.
type Scheduler struct {
	Node
	Policy   *string `hcl:"policy,attr"` // "rr", "fifo" or "other" (none)
	Priority *int64  `hcl:"priority,attr"`
}

// Filter is the event filter: an ordered chain of stages, each keeping
// (accept) or dropping (ignore) the flows that match its set. A flow must
// pass every stage.
type Filter struct {
	Node
	// RunIn is where the chain runs: "user" (default) or "kernel".
	RunIn  *string `hcl:"run_in,attr"`
	Stages []Stage `hcl:"stage,block"`
}

// Stage is one step of a filter chain.
type Stage struct {
	Node
	// Kind is what the stage matches on: "protocol", "address" or "tcp_state".
	Kind string `hcl:"kind,label"`
	// Exactly one of Accept and Ignore is set.
	Accept []string `hcl:"accept,attr"`
	Ignore []string `hcl:"ignore,attr"`
}

// Cache is a cache tier: "internal" (this node's flows) or "external"
// (flows learned from peers).
type Cache struct {
	Node
	Tier    string `hcl:"tier,label"`
	Enabled *bool  `hcl:"enabled,attr"`
	// Size is the number of hash buckets, Limit the maximum number of entries.
	Size  *int64 `hcl:"size,attr"`
	Limit *int64 `hcl:"limit,attr"`
}

// Sync selects state replication and its mode: "ftfw", "notrack" or "alarm".
type Sync struct {
	Node
	Mode string `hcl:"mode,label"`

	// ftfw
	ResendQueueSize *int64 `hcl:"resend_queue_size,attr"`
	ACKWindowSize   *int64 `hcl:"ack_window_size,attr"`
	// ftfw, notrack
	StartupResync *bool `hcl:"startup_resync,attr"`
	// alarm (durations)
	RefreshTime  *string `hcl:"refresh_time,attr"`
	CacheTimeout *string `hcl:"cache_timeout,attr"`
	// every mode (durations)
	CommitTimeout *string `hcl:"commit_timeout,attr"`
	PurgeTimeout  *string `hcl:"purge_timeout,attr"`

	TCPWindowTracking *bool `hcl:"tcp_window_tracking,attr"`
	// ExpectationSync replicates expectations; ExpectationHelpers restricts
	// that to expectations whose helper name starts with one of the names.
	ExpectationSync    *bool    `hcl:"expectation_sync,attr"`
	ExpectationHelpers []string `hcl:"expectation_helpers,attr"`
}

// Link is one dedicated sync link. The first link marked default (or the
// first link) is active at start; the others are fail-over candidates.
type Link struct {
	Node
	Name      string  `hcl:"name,label"`
	Transport string  `hcl:"transport,attr"` // multicast, udp, tcp
	Default   *bool   `hcl:"default,attr"`
	Interface *string `hcl:"interface,attr"`
	// Group is the multicast group (multicast only).
	Group *string `hcl:"group,attr"`
	// InterfaceAddress is the local IPv4 address used to join the group and
	// to send (multicast only).
	InterfaceAddress *string `hcl:"interface_address,attr"`
	// Local is the address to bind or listen on, Peer the address to send or
	// connect to (udp, tcp).
	Local *string `hcl:"local,attr"`
	Peer  *string `hcl:"peer,attr"`
	// Port is the UDP/TCP port, the same on both peers; for multicast it is
	// the UDP port of the group.
	Port          *int64  `hcl:"port,attr"`
	SendBuffer    *string `hcl:"send_buffer,attr" write:"size"`
	ReceiveBuffer *string `hcl:"receive_buffer,attr" write:"size"`
	// Checksum off sends UDP datagrams without checksum.
	Checksum *bool `hcl:"checksum,attr"`
	// ErrorQueueLength is how many undelivered buffers a TCP client keeps.
	ErrorQueueLength *int64 `hcl:"error_queue_length,attr"`
}

// Stats selects statistics mode: flows are logged when they end.
type Stats struct {
	Node
	LogFile *string `hcl:"log_file,attr"`
	Syslog  *string `hcl:"syslog,attr"`
}

// Helpers enables user-space conntrack helpers.
type Helpers struct {
	Node
	// Setup lets the kernel create the helper itself.
	Setup  *bool    `hcl:"setup,attr"`
	Helper []Helper `hcl:"helper,block"`
}

// Helper attaches one user-space helper to a family and protocol:
// helper "rpc" "inet" "udp" {}. The three labels are what identifies a
// helper to the kernel (nfnetlink_cthelper: name, layer 3 and layer 4
// protocol) and what conntrackd'"'"'s "Type rpc inet udp" says, so they are
// unique in every valid file, where one label (the name) repeats for rpc
// and ssdp, which run over both tcp and udp.
type Helper struct {
	Node
	Name     string         `hcl:"name,label"`
	Family   string         `hcl:"family,label"`   // inet or inet6
	Protocol string         `hcl:"protocol,label"` // tcp or udp
	QueueNum *int64         `hcl:"queue_num,attr"`
	QueueLen *int64         `hcl:"queue_len,attr"`
	Policies []HelperPolicy `hcl:"policy,block"`
}

// HelperPolicy overrides an expectation policy of a helper. A field not
// written is zero, as in conntrackd.
type HelperPolicy struct {
	Node
	Name          string  `hcl:"name,label"`
	ExpectMax     *int64  `hcl:"expect_max,attr"`
	ExpectTimeout *string `hcl:"expect_timeout,attr"`
}
