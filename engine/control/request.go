package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the protocol version this package speaks. A request names
// the version it was written for; a server refuses any other, so an old
// daemon never half-understands a newer client.
const Version = 1

// Command names an operation of the daemon.
type Command string

// The commands, with the conntrackd request they stand for.
const (
	Commit Command = "commit" // -c: write the external cache into the kernel
	Flush  Command = "flush"  // -f [internal|external]: empty the caches
	Resync Command = "resync" // -n: ask the peer for its table; with Kernel, -R: reload the internal cache from the kernel
	Bulk   Command = "bulk"   // -B: send the internal cache to the peer
	Purge  Command = "purge"  // -t: flush the kernel table after purge_timeout
	Reload Command = "reload" // re-read the configuration
	Stats  Command = "stats"  // -s
	Dump   Command = "dump"   // -i / -e: list a cache, one flow per data line
	// FlushKernel deletes from the kernel's table the flows the filter
	// accepts and, for expectations, every expectation (-F).
	FlushKernel Command = "flush-kernel"
	// Stop shuts the daemon down cleanly, as SIGTERM does (-k).
	Stop Command = "stop"
	// Ready asks whether this node holds a complete copy of its peer's
	// state (Readiness, one JSON data line); conntrackd has none.
	Ready Command = "ready"
)

var commands = []Command{Commit, Flush, Resync, Bulk, Purge, Reload, Stats, Dump, FlushKernel, Stop, Ready}

// Table names one of the kernel's tables, as conntrackd's `ct` and
// `expect` sub-arguments do.
type Table string

// The tables. The zero Table means both for commit, resync and
// flush-kernel, and conntracks for dump, as in conntrackd.
const (
	Conntracks   Table = "ct"
	Expectations Table = "expect"
)

// Section is the part of the statistics that stats sends, as conntrackd's
// `-s SECTION`. The zero Section is every section (ctsync's `stats`).
type Section string

// The sections, with conntrackd's names.
const (
	SectionGeneral Section = "general" // -s, -s ct: caches, traffic, active link, message tracking
	SectionNetwork Section = "network"
	SectionCache   Section = "cache"
	SectionRuntime Section = "runtime"
	SectionLink    Section = "link"
	SectionRSQueue Section = "rsqueue"
	SectionProcess Section = "process"
	SectionQueue   Section = "queue"
	SectionExpect  Section = "expect"
)

var sections = []Section{SectionGeneral, SectionNetwork, SectionCache, SectionRuntime, SectionLink, SectionRSQueue, SectionProcess, SectionQueue, SectionExpect}

// Cache names a cache tier: ours (internal) or the peer's copy (external).
type Cache string

// The caches. The zero Cache means both, where a command allows it.
const (
	Internal Cache = "internal"
	External Cache = "external"
)

// Format is how stats and dump write their data lines.
type Format string

// The formats. The zero Format means Text.
const (
	Text Format = "text" // a data line is a line of text, as conntrackd prints it
	JSON Format = "json" // a data line is one JSON value
	XML  Format = "xml"  // dump only: a data line is one <flow> element, as conntrackd's -x
)

// Request is what a client asks: one per connection, sent as one line of
// JSON. Fields a command does not take must be left out.
type Request struct {
	Version int     `json:"version"`
	Command Command `json:"command"`
	// Cache: for dump (required) and flush (optional; both when empty).
	Cache Cache `json:"cache,omitempty"`
	// Kernel: for resync, reload the internal cache from the kernel
	// instead of asking the peer.
	Kernel bool `json:"kernel,omitempty"`
	// Format: for stats and dump; text when empty.
	Format Format `json:"format,omitempty"`
	// Table: for commit, dump, resync with kernel, and flush-kernel.
	Table Table `json:"table,omitempty"`
	// Section: for stats in text; every section when empty.
	Section Section `json:"section,omitempty"`
	// Wait: for resync from the peer, answer once the peer's table has
	// all arrived (with progress lines meanwhile), not once asked.
	Wait bool `json:"wait,omitempty"`
}

// DefaultMaxRequest bounds a request line. A request is a few dozen bytes;
// the bound only keeps a broken or hostile client from making the server
// buffer without end.
const DefaultMaxRequest = 64 << 10

// Reasons a request is refused, in RequestError.Code and in the error
// results a server sends. Clients may branch on them; they never change
// meaning.
const (
	CodeMalformed   = "malformed"   // not one JSON object of the request's shape, or bytes after it
	CodeTooLarge    = "too-large"   // longer than the server's limit
	CodeTimeout     = "timeout"     // not received within the server's read timeout
	CodeVersion     = "version"     // a protocol version the server does not speak
	CodeUnknown     = "unknown"     // a command the server does not know
	CodeInvalid     = "invalid"     // a known command with arguments it does not take
	CodeBusy        = "busy"        // too many clients at once
	CodeFailed      = "failed"      // the operation was attempted and failed
	CodeUnavailable = "unavailable" // the server is shutting down
)

// RequestError says why a request was refused.
type RequestError struct {
	Code string
	Msg  string
}

func (e *RequestError) Error() string { return e.Msg }

func refuse(code, format string, args ...any) *RequestError {
	return &RequestError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ReadRequest reads one request line of at most max bytes (the newline
// excluded) from r and decodes it. It neither waits for nor accepts
// anything after the newline that ends the request: bytes that follow in
// the same read are refused, since the protocol has one request per
// connection. Errors are *RequestError, but for io.EOF when the
// connection closes before any byte, and the reader's own errors.
func ReadRequest(r io.Reader, max int) (Request, error) {
	if max <= 0 {
		max = DefaultMaxRequest
	}
	// Read byte-wise into a bounded buffer rather than through a
	// bufio.Reader, so nothing after the request is consumed unseen and
	// memory never exceeds max.
	buf := make([]byte, 0, min(max+1, 512))
	var chunk [512]byte
	for {
		n, err := r.Read(chunk[:min(len(chunk), max+1-len(buf))])
		data := chunk[:n]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			if len(data) > i+1 {
				return Request{}, refuse(CodeMalformed, "malformed request: %d bytes after the request line; send one request per connection", len(data)-i-1)
			}
			buf = append(buf, data[:i]...)
			if len(buf) > max {
				return Request{}, refuse(CodeTooLarge, "request larger than %d bytes", max)
			}
			return DecodeRequest(buf)
		}
		buf = append(buf, data...)
		if len(buf) > max {
			return Request{}, refuse(CodeTooLarge, "request larger than %d bytes", max)
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) == 0 {
				// Connected and left: a probe for a live daemon, as
				// Listen makes. Nothing to refuse.
				return Request{}, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return Request{}, refuse(CodeMalformed, "malformed request: connection closed after %d bytes, before the newline that ends the request", len(buf))
			}
			return Request{}, err
		}
	}
}

// DecodeRequest decodes one request (without its newline) and checks it
// with Validate. Errors are *RequestError and say where the problem is.
func DecodeRequest(line []byte) (Request, error) {
	if err := checkKeys(line); err != nil {
		return Request{}, err
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, jsonError(line, err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(line[off:])) > 0 {
		return Request{}, refuse(CodeMalformed, "malformed request at byte %d: data after the request object", off+1)
	}
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// fields are the request's keys, spelt exactly.
var fields = map[string]bool{"version": true, "command": true, "cache": true, "kernel": true, "format": true, "table": true, "section": true, "wait": true}

// checkKeys refuses what encoding/json lets through: keys in another
// case ("Command") and keys given twice, where it would silently take the
// last. A request means one thing or is refused.
func checkKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: the decoder says why
	}
	seen := map[string]bool{}
	for dec.More() {
		off := dec.InputOffset()
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		// The offset is before the comma and blanks that precede the key.
		for off < int64(len(line)) && strings.IndexByte(", \t\r\n", line[off]) >= 0 {
			off++
		}
		switch {
		case !fields[k]:
			return refuse(CodeMalformed, "malformed request at byte %d: unknown field %q", off+1, k)
		case seen[k]:
			return refuse(CodeMalformed, "malformed request at byte %d: field %q given twice", off+1, k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
	}
	return nil
}

// jsonError turns encoding/json's errors into located ones (byte offsets
// counted from 1, as a reader counts columns).
func jsonError(line []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return refuse(CodeMalformed, "malformed request at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return refuse(CodeMalformed, "malformed request at byte %d: %s is %s, want %s", typ.Offset, typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return refuse(CodeMalformed, "malformed request: empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return refuse(CodeMalformed, "malformed request at byte %d: unexpected end", len(line))
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return refuse(CodeMalformed, "malformed request: unknown field %s", f)
	}
	return refuse(CodeMalformed, "malformed request: %s", strings.TrimPrefix(msg, "json: "))
}

// Validate checks that r is a request of this protocol version that the
// server can carry out: a known command with only the arguments it takes.
func (r Request) Validate() error {
	if r.Version != Version {
		return refuse(CodeVersion, "protocol version %d is not supported: this daemon speaks version %d", r.Version, Version)
	}
	known := false
	for _, c := range commands {
		known = known || c == r.Command
	}
	if !known {
		return refuse(CodeUnknown, "unknown command %q; commands are %s", r.Command, commandList())
	}
	if r.Kernel && r.Command != Resync {
		return refuse(CodeInvalid, "%s: kernel is only for resync", r.Command)
	}
	if r.Wait && (r.Command != Resync || r.Kernel) {
		return refuse(CodeInvalid, "%s: wait is only for a resync from the peer (kernel false)", r.Command)
	}
	switch r.Command {
	case Dump:
		if r.Cache != Internal && r.Cache != External {
			return refuse(CodeInvalid, "dump: cache must be %q or %q, got %q", Internal, External, r.Cache)
		}
	case Flush:
		if r.Cache != "" && r.Cache != Internal && r.Cache != External {
			return refuse(CodeInvalid, "flush: cache must be %q, %q or left out for both, got %q", Internal, External, r.Cache)
		}
	default:
		if r.Cache != "" {
			return refuse(CodeInvalid, "%s: cache is only for dump and flush", r.Command)
		}
	}
	switch r.Command {
	case Dump:
		if r.Format != "" && r.Format != Text && r.Format != JSON && r.Format != XML {
			return refuse(CodeInvalid, "%s: format must be %q, %q or %q, got %q", r.Command, Text, JSON, XML, r.Format)
		}
	case Stats:
		if r.Format != "" && r.Format != Text && r.Format != JSON {
			return refuse(CodeInvalid, "%s: format must be %q or %q, got %q", r.Command, Text, JSON, r.Format)
		}
	case Ready:
		if r.Format != "" && r.Format != JSON {
			return refuse(CodeInvalid, "%s: the answer is one JSON object: format must be %q or left out, got %q", r.Command, JSON, r.Format)
		}
	default:
		if r.Format != "" {
			return refuse(CodeInvalid, "%s: format is only for stats, dump and ready", r.Command)
		}
	}
	return r.validateLegacy()
}

// validateLegacy checks the fields that came with conntrackd's command
// line: table and section.
func (r Request) validateLegacy() error {
	switch r.Command {
	case Commit, Dump, FlushKernel:
	case Resync:
		if r.Table != "" && !r.Kernel {
			return refuse(CodeInvalid, "resync: table is only for a resync from the kernel (kernel true)")
		}
	default:
		if r.Table != "" {
			return refuse(CodeInvalid, "%s: table is only for commit, dump, resync and flush-kernel", r.Command)
		}
	}
	if r.Table != "" && r.Table != Conntracks && r.Table != Expectations {
		return refuse(CodeInvalid, "%s: table must be %q or %q, got %q", r.Command, Conntracks, Expectations, r.Table)
	}
	if r.Section == "" {
		return nil
	}
	if r.Command != Stats {
		return refuse(CodeInvalid, "%s: section is only for stats", r.Command)
	}
	if r.Format == JSON {
		return refuse(CodeInvalid, "stats: section is for text; the JSON object holds every section")
	}
	for _, s := range sections {
		if s == r.Section {
			return nil
		}
	}
	names := make([]string, len(sections))
	for i, s := range sections {
		names[i] = string(s)
	}
	return refuse(CodeInvalid, "stats: section must be one of %s, got %q", strings.Join(names, ", "), r.Section)
}

func commandList() string {
	var b strings.Builder
	for i, c := range commands {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(c))
	}
	return b.String()
}

// format returns the request's format with the default filled in.
func (r Request) format() Format {
	if r.Command == Ready {
		return JSON
	}
	if r.Format == "" {
		return Text
	}
	return r.Format
}

// AppendRequest appends r as a request line, newline included.
func AppendRequest(b []byte, r Request) ([]byte, error) {
	j, err := json.Marshal(r)
	if err != nil {
		return b, err
	}
	return append(append(b, j...), '\n'), nil
}
