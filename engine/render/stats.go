package render

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/engine/cache"
	"github.com/ctsync/ctsync/engine/control"
	"github.com/ctsync/ctsync/engine/syncmode"
	"github.com/ctsync/ctsync/link"
)

// Snapshot is what `ctsync stats` shows: the engine copies its counters
// into one and renders it with AppendStatsText or AppendStatsJSON. Zero
// values print as zeros; a nil cache is a disabled tier.
type Snapshot struct {
	// Uptime is how long the daemon has run.
	Uptime time.Duration
	// Internal and External are the conntrack caches' counters;
	// InternalExpect and ExternalExpect those of the expectation caches.
	Internal, External             *cache.Stats
	InternalExpect, ExternalExpect *cache.Stats
	// Limits are the caches' limits, in entries.
	Limits Limits
	// Traffic is what the destroyed flows carried (conntrackd's "traffic
	// processed"), when counted.
	Traffic Traffic
	// Ingest are the input stage's counters; KernelFlushes counts the
	// flushes of the kernel table.
	Ingest        Ingest
	KernelFlushes uint64
	// Mode is the sync mode ("ftfw", "notrack", "alarm"); Sync its
	// counters.
	Mode string
	Sync syncmode.Stats
	// Links are the dedicated links, in configuration order; the one
	// with Active set is the one in use.
	Links []link.LinkStatus
	// ResendQueue is FT-FW's resend queue.
	ResendQueue ResendQueue
	// Control are the control socket's counters.
	Control control.ServerStats
	// Operations are the counters of the commits, purges and writes
	// the engine made.
	Operations Operations
	// Readiness is what `ctsync ready` answers (nil: not known).
	Readiness *control.Readiness
	// Commit and Resync are how far the running commit and resync with
	// the kernel's table got, or the last ones when none runs.
	Commit, Resync Progress
}

// Limits are the most entries each cache holds; the expectation caches
// have their tier's limit.
type Limits struct {
	Internal, External, InternalExpect, ExternalExpect int
}

// Progress is how far an operation got. Total is 0 when it is not known
// in advance.
type Progress struct {
	Running     bool
	Stage       string
	Done, Total int64
}

// Operations count what the engine wrote into the kernel on request or
// on the peer's behalf.
type Operations struct {
	Commits, Committed, CommitFailed uint64 // commits run; flows and expectations written, refused
	Purges, Purged                   uint64 // purges run; flows they removed
	Injected, InjectFailed           uint64 // received flows written straight to the kernel (no external cache)
	ResyncRequests                   uint64 // resyncs asked of the peers (at start-up and on request)
	ReceiveErrors                    uint64 // failed reads of the sync links
	CacheFull                        uint64 // kernel flows the internal cache had no room for
}

// Traffic counts bytes and packets.
type Traffic struct {
	Bytes, Packets uint64
}

// Ingest are the input stage's counters. It has the fields of
// engine.IngestStats, in the same order, so that the engine converts one
// into the other with a plain conversion (render cannot import engine,
// which imports it).
type Ingest struct {
	Events, Filtered, OwnOrigin, Skipped uint64
	Overruns                             uint64
	ReadBuffer                           int
	Resyncs, Polls, DumpFailures         uint64
	Dumped, DumpFiltered                 uint64
}

// ResendQueue is FT-FW's resend queue: its length and, when the engine
// lists them, its items.
type ResendQueue struct {
	Len   int
	Items []ResendItem
}

// ResendItem is one message waiting for its acknowledgement: a control
// message (with its flags) or an object's.
type ResendItem struct {
	Control bool
	Seq     uint32
	Flags   uint8
}

// Section names a part of the statistics, as conntrackd's `-s SECTION`.
type Section string

// The sections; SectionAll is every one, in this order.
const (
	SectionGeneral Section = ""        // -s: caches, traffic, active link, message tracking
	SectionCache   Section = "cache"   // -s cache: extended cache counters
	SectionRuntime Section = "runtime" // -s runtime: uptime, netlink, runtime
	SectionNetwork Section = "network" // -s network: receive and send errors, sequence tracking, active link
	SectionLink    Section = "link"    // -s link: every link
	SectionRSQueue Section = "rsqueue" // -s rsqueue: FT-FW's resend queue
	SectionCtsync  Section = "ctsync"  // ctsync's own: sync mode, control socket, ingest
	SectionAll     Section = "all"
)

// AppendStatsText appends section of s in the layout conntrackd 1.4.7
// prints for `-s SECTION` (src/cache.c, src/run.c, src/sync-mode.c,
// src/multichannel.c), so that scripts reading it keep working; the
// ctsync section, which conntrackd has not, comes last in the same
// style. SectionAll gives the active link's block once, in the general
// section. An unknown section is an error.
func AppendStatsText(b []byte, s *Snapshot, section Section) ([]byte, error) {
	switch section {
	case SectionGeneral:
		return appendGeneral(b, s), nil
	case SectionCache:
		return appendCacheExtended(b, s), nil
	case SectionRuntime:
		return appendRuntime(b, s), nil
	case SectionNetwork:
		return appendActive(appendNetwork(b, s), s), nil
	case SectionLink:
		return appendLinks(b, s), nil
	case SectionRSQueue:
		return appendRSQueue(b, s), nil
	case SectionCtsync:
		return appendCtsync(b, s), nil
	case SectionAll:
		b = appendGeneral(b, s)
		b = appendCacheExtended(b, s)
		b = appendRuntime(b, s)
		b = appendNetwork(b, s)
		b = appendLinks(b, s)
		if s.Mode == "ftfw" {
			b = appendRSQueue(b, s)
			b = append(b, '\n')
		}
		return appendCtsync(b, s), nil
	}
	return b, fmt.Errorf("stats: unknown section %q (want cache, runtime, network, link, rsqueue, ctsync or all)", section)
}

func appendGeneral(b []byte, s *Snapshot) []byte {
	if s.Internal != nil {
		b = s.Internal.AppendText(b, "internal")
	}
	if s.External != nil {
		b = s.External.AppendText(b, "external")
	}
	b = fmt.Appendf(b, "traffic processed:\n%20d Bytes %25d Pckts\n\n", s.Traffic.Bytes, s.Traffic.Packets)
	b = appendActive(b, s)
	return fmt.Appendf(b, "message tracking:\n%20d Malformed msgs %20d Lost msgs\n\n", s.Sync.Malformed, s.Sync.Lost)
}

func appendCacheExtended(b []byte, s *Snapshot) []byte {
	if s.Internal != nil {
		b = s.Internal.AppendExtended(b, "internal")
	}
	if s.External != nil {
		b = s.External.AppendExtended(b, "external")
	}
	return b
}

// appendRuntime: ctsync runs no child processes and has no select loop,
// so those counters are zero; a control request that could not be read
// counts as "local read failed", one for another version, command or
// argument as "local unknown request"; a message that did not decode
// as "catch event failed".
func appendRuntime(b []byte, s *Snapshot) []byte {
	in, c := &s.Ingest, &s.Control
	return fmt.Appendf(b, "daemon uptime: %d min\n\n"+
		"netlink stats:\n"+
		"\tevents received:\t%20d\n"+
		"\tevents filtered:\t%20d\n"+
		"\tevents unknown type:\t\t%12d\n"+
		"\tcatch event failed:\t\t%12d\n"+
		"\tdump unknown type:\t\t%12d\n"+
		"\tnetlink overrun:\t\t%12d\n"+
		"\tflush kernel table:\t\t%12d\n"+
		"\tresync with kernel table:\t%12d\n"+
		"\tcurrent buffer size (in bytes):\t%12d\n\n"+
		"runtime stats:\n"+
		"\tchild process failed:\t\t%12d\n"+
		"\t\tchild process segfault:\t%12d\n"+
		"\t\tchild process termsig:\t%12d\n"+
		"\tselect failed:\t\t\t%12d\n"+
		"\twait failed:\t\t\t%12d\n"+
		"\tlocal read failed:\t\t%12d\n"+
		"\tlocal unknown request:\t\t%12d\n\n",
		int64(s.Uptime/time.Minute),
		in.Events, in.Filtered, 0, in.Skipped, 0, in.Overruns, s.KernelFlushes, in.Resyncs, in.ReadBuffer,
		0, 0, 0, 0, 0,
		c.Malformed+c.TooLarge+c.Timeouts, c.Unsupported)
}

// appendNetwork: the receive errors are not told apart here (a datagram
// that does not decode is malformed, whatever the reason), so they all
// count as "Malformed messages"; lost messages are the sync mode's.
func appendNetwork(b []byte, s *Snapshot) []byte {
	return fmt.Appendf(b, "network statistics:\n"+
		"\trecv:\n"+
		"\t\tMalformed messages:\t%20d\n"+
		"\t\tWrong protocol version:\t%20d\n"+
		"\t\tMalformed header:\t%20d\n"+
		"\t\tMalformed payload:\t%20d\n"+
		"\t\tBad message type:\t%20d\n"+
		"\t\tTruncated message:\t%20d\n"+
		"\t\tBad message size:\t%20d\n"+
		"\tsend:\n"+
		"\t\tMalformed messages:\t%20d\n\n"+
		"sequence tracking statistics:\n"+
		"\trecv:\n"+
		"\t\tPackets lost:\t\t%20d\n"+
		"\t\tPackets before:\t\t%20d\n\n",
		s.Sync.Malformed, 0, 0, 0, 0, 0, 0, 0,
		s.Sync.Lost, 0)
}

// writer lets the link package's writers append to a byte slice.
type writer struct{ b []byte }

func (w *writer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func appendActive(b []byte, s *Snapshot) []byte {
	for _, l := range s.Links {
		if l.Active {
			w := writer{b}
			link.WriteActive(&w, l) // a writer that cannot fail
			return w.b
		}
	}
	return b
}

func appendLinks(b []byte, s *Snapshot) []byte {
	w := writer{b}
	link.WriteLinks(&w, s.Links) // a writer that cannot fail
	return w.b
}

func appendRSQueue(b []byte, s *Snapshot) []byte {
	b = fmt.Appendf(b, "resent queue (len=%d)\n", s.ResendQueue.Len)
	for _, it := range s.ResendQueue.Items {
		if it.Control {
			b = fmt.Appendf(b, "control -> seq:%d flags:%d\n", it.Seq, it.Flags)
		} else {
			b = fmt.Appendf(b, "object -> seq:%d\n", it.Seq)
		}
	}
	return b
}

// appendCtsync appends what conntrackd does not count, in its style.
func appendCtsync(b []byte, s *Snapshot) []byte {
	y, in, c := &s.Sync, &s.Ingest, &s.Control
	if s.InternalExpect != nil {
		b = s.InternalExpect.AppendText(b, "internal expect")
	}
	if s.ExternalExpect != nil {
		b = s.ExternalExpect.AppendText(b, "external expect")
	}
	b = fmt.Appendf(b, "sync mode %s:\n"+
		"\tdatagrams sent:\t\t%20d\n"+
		"\tmessages sent:\t\t%20d\n"+
		"\tsend errors:\t\t%20d\n"+
		"\tmessages received:\t%20d\n"+
		"\tmessages applied:\t%20d\n"+
		"\tmessages rejected:\t%20d\n"+
		"\texpectations ignored:\t%20d\n"+
		"\trefreshes:\t\t%20d\n"+
		"\texpired:\t\t%20d\n"+
		"\tbulk sends:\t\t%20d\n\n",
		s.Mode, y.Datagrams, y.Messages, y.SendErrors, y.Received, y.Applied, y.Rejected,
		y.ExpIgnored, y.Refreshes, y.Expired, y.Bulks)
	b = fmt.Appendf(b, "ingest:\n"+
		"\tevents of our own writes:\t%12d\n"+
		"\tpolls:\t\t\t\t%12d\n"+
		"\tdumps failed:\t\t\t%12d\n"+
		"\tdumped:\t\t\t\t%12d\n"+
		"\tdumped, filtered:\t\t%12d\n\n",
		in.OwnOrigin, in.Polls, in.DumpFailures, in.Dumped, in.DumpFiltered)
	o := &s.Operations
	b = fmt.Appendf(b, "operations:\n"+
		"\tcommits:\t\t%12d\n"+
		"\tcommitted:\t\t%12d\tfailed:\t%12d\n"+
		"\tpurges:\t\t\t%12d\tremoved:\t%12d\n"+
		"\tinjected:\t\t%12d\tfailed:\t%12d\n"+
		"\tlink read errors:\t%12d\n"+
		"\tinternal cache full:\t%12d\n\n",
		o.Commits, o.Committed, o.CommitFailed, o.Purges, o.Purged, o.Injected, o.InjectFailed, o.ReceiveErrors, o.CacheFull)
	return fmt.Appendf(b, "control socket:\n"+
		"\tconnections accepted:\t%12d\n"+
		"\tsucceeded:\t\t%12d\n"+
		"\tfailed:\t\t\t%12d\n"+
		"\tmalformed:\t\t%12d\n"+
		"\ttoo large:\t\t%12d\n"+
		"\tunsupported:\t\t%12d\n"+
		"\ttimeouts:\t\t%12d\n"+
		"\tbusy:\t\t\t%12d\n"+
		"\tdisconnected:\t\t%12d\n\n",
		c.Accepted, c.Succeeded, c.Failed, c.Malformed, c.TooLarge, c.Unsupported, c.Timeouts, c.Busy, c.Disconnected)
}

// The JSON form: one object, field names in snake case; docs/control.md
// lists them.
type (
	jsonStats struct {
		Uptime        int64              `json:"uptime"`
		Caches        jsonCaches         `json:"caches"`
		Traffic       jsonTraffic        `json:"traffic"`
		Ingest        jsonIngest         `json:"ingest"`
		KernelFlushes uint64             `json:"kernel_flushes"`
		Sync          jsonSync           `json:"sync"`
		Links         []jsonLink         `json:"links"`
		ResendQueue   *jsonRSQueue       `json:"resend_queue,omitempty"`
		Control       jsonControl        `json:"control"`
		Operations    jsonOps            `json:"operations"`
		Progress      jsonProgress       `json:"progress"`
		Readiness     *control.Readiness `json:"readiness,omitempty"`
	}
	jsonProgress struct {
		Commit jsonOp `json:"commit"`
		Resync jsonOp `json:"resync"`
	}
	jsonOp struct {
		Running bool   `json:"running"`
		Stage   string `json:"stage"`
		Done    int64  `json:"done"`
		Total   int64  `json:"total"`
	}
	jsonOps struct {
		Commits        uint64 `json:"commits"`
		Committed      uint64 `json:"committed"`
		CommitFailed   uint64 `json:"commit_failed"`
		Purges         uint64 `json:"purges"`
		Purged         uint64 `json:"purged"`
		Injected       uint64 `json:"injected"`
		InjectFailed   uint64 `json:"inject_failed"`
		ResyncRequests uint64 `json:"resync_requests"`
		ReceiveErrors  uint64 `json:"receive_errors"`
		CacheFull      uint64 `json:"cache_full"`
	}
	jsonCaches struct {
		Internal       *jsonCache `json:"internal,omitempty"`
		External       *jsonCache `json:"external,omitempty"`
		InternalExpect *jsonCache `json:"internal_expect,omitempty"`
		ExternalExpect *jsonCache `json:"external_expect,omitempty"`
	}
	jsonCache struct {
		Active          uint64 `json:"active"`
		Objects         uint64 `json:"objects"`
		Limit           int    `json:"limit"`
		Created         uint64 `json:"created"`
		CreateFailed    uint64 `json:"create_failed"`
		CreateNoSpace   uint64 `json:"create_no_space"`
		Updated         uint64 `json:"updated"`
		Destroyed       uint64 `json:"destroyed"`
		DestroyFailed   uint64 `json:"destroy_failed"`
		DestroyNotFound uint64 `json:"destroy_not_found"`
		Flushes         uint64 `json:"flushes"`
	}
	jsonTraffic struct {
		Bytes   uint64 `json:"bytes"`
		Packets uint64 `json:"packets"`
	}
	jsonIngest struct {
		Events       uint64 `json:"events"`
		Filtered     uint64 `json:"filtered"`
		OwnOrigin    uint64 `json:"own_origin"`
		Skipped      uint64 `json:"skipped"`
		Overruns     uint64 `json:"overruns"`
		ReadBuffer   int    `json:"read_buffer"`
		Resyncs      uint64 `json:"resyncs"`
		Polls        uint64 `json:"polls"`
		DumpFailures uint64 `json:"dump_failures"`
		Dumped       uint64 `json:"dumped"`
		DumpFiltered uint64 `json:"dump_filtered"`
	}
	jsonSync struct {
		Mode       string `json:"mode"`
		Datagrams  uint64 `json:"datagrams"`
		Messages   uint64 `json:"messages"`
		SendErrors uint64 `json:"send_errors"`
		Received   uint64 `json:"received"`
		Malformed  uint64 `json:"malformed"`
		Lost       uint64 `json:"lost"`
		Applied    uint64 `json:"applied"`
		Rejected   uint64 `json:"rejected"`
		ExpIgnored uint64 `json:"expectations_ignored"`
		Refreshes  uint64 `json:"refreshes"`
		Expired    uint64 `json:"expired"`
		Bulks      uint64 `json:"bulks"`
	}
	jsonLink struct {
		Name            string `json:"name"`
		Interface       string `json:"interface"`
		Transport       string `json:"transport"`
		State           string `json:"state"`
		Active          bool   `json:"active"`
		Server          *bool  `json:"server_connected,omitempty"`
		Client          *bool  `json:"client_connected,omitempty"`
		BytesSent       uint64 `json:"bytes_sent"`
		BytesReceived   uint64 `json:"bytes_received"`
		PacketsSent     uint64 `json:"packets_sent"`
		PacketsReceived uint64 `json:"packets_received"`
		ErrorsSent      uint64 `json:"errors_sent"`
		ErrorsReceived  uint64 `json:"errors_received"`
		Lost            uint64 `json:"lost"`
		Malformed       uint64 `json:"malformed"`
	}
	jsonRSQueue struct {
		Len int `json:"len"`
	}
	jsonControl struct {
		Accepted     uint64 `json:"accepted"`
		Succeeded    uint64 `json:"succeeded"`
		Failed       uint64 `json:"failed"`
		Malformed    uint64 `json:"malformed"`
		TooLarge     uint64 `json:"too_large"`
		Unsupported  uint64 `json:"unsupported"`
		Timeouts     uint64 `json:"timeouts"`
		Busy         uint64 `json:"busy"`
		Disconnected uint64 `json:"disconnected"`
	}
)

func jsonCacheOf(s *cache.Stats, limit int) *jsonCache {
	if s == nil {
		return nil
	}
	return &jsonCache{s.Active, s.Objects, limit, s.Created, s.CreateFailed, s.CreateNoSpace,
		s.Updated, s.Destroyed, s.DestroyFailed, s.DestroyNotFound, s.Flushes}
}

// AppendStatsJSON appends s as one JSON object (no newline): every
// counter, named as docs/control.md lists. A disabled cache tier is left
// out; the resend queue is there in FT-FW mode only.
func AppendStatsJSON(b []byte, s *Snapshot) []byte {
	y := &s.Sync
	j := jsonStats{
		Uptime: int64(s.Uptime / time.Second),
		Caches: jsonCaches{
			Internal: jsonCacheOf(s.Internal, s.Limits.Internal), External: jsonCacheOf(s.External, s.Limits.External),
			InternalExpect: jsonCacheOf(s.InternalExpect, s.Limits.InternalExpect), ExternalExpect: jsonCacheOf(s.ExternalExpect, s.Limits.ExternalExpect),
		},
		Traffic:       jsonTraffic(s.Traffic),
		Ingest:        jsonIngest(s.Ingest),
		KernelFlushes: s.KernelFlushes,
		Sync: jsonSync{s.Mode, y.Datagrams, y.Messages, y.SendErrors, y.Received, y.Malformed, y.Lost,
			y.Applied, y.Rejected, y.ExpIgnored, y.Refreshes, y.Expired, y.Bulks},
		Links:      make([]jsonLink, 0, len(s.Links)),
		Control:    jsonControl(s.Control),
		Operations: jsonOps(s.Operations),
		Progress:   jsonProgress{jsonOp(s.Commit), jsonOp(s.Resync)},
	}
	if s.Mode == "ftfw" {
		j.ResendQueue = &jsonRSQueue{s.ResendQueue.Len}
	}
	j.Readiness = s.Readiness
	for _, l := range s.Links {
		t := &l.Stats
		j.Links = append(j.Links, jsonLink{l.Name, l.Interface, l.Transport.String(), l.State, l.Active, l.Server, l.Client,
			t.BytesSent, t.BytesReceived, t.PacketsSent, t.PacketsReceived, t.ErrorsSent, t.ErrorsReceived, t.Lost, t.Malformed})
	}
	out, err := json.Marshal(&j)
	if err != nil {
		// Only numbers, booleans and strings: Marshal does not fail.
		// Should it, the line still says so in JSON.
		return fmt.Appendf(b, `{"error":%q}`, err.Error())
	}
	return append(b, out...)
}
