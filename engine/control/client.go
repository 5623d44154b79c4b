package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unicode/utf8"
)

// Error is a request the daemon refused or an operation that failed
// there, as the daemon reported it.
type Error struct {
	Code string // one of the Code constants; others may come from a newer daemon
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// ErrNoResult means the daemon closed the connection without saying
// whether the operation succeeded: it crashed or was stopped meanwhile.
var ErrNoResult = errors.New("control: the daemon closed the connection before the result")

// Client is one connection to a daemon, for one request.
type Client struct {
	path    string
	conn    net.Conn
	MaxLine int // bytes in a response line; DefaultMaxLine when 0
	used    bool
}

// DialTimeout bounds connecting: a daemon's listen queue that stays full
// this long is a daemon that does not answer.
const DialTimeout = 5 * time.Second

// Dial connects to the daemon's control socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	d := net.Dialer{Timeout: DialTimeout}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: connecting to %s (is the daemon running, and may you use its socket?): %w", path, unwrapOp(err))
	}
	return &Client{path: path, conn: c}, nil
}

// unwrapOp drops net.OpError's repetition of the address.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Close closes the connection; a request in progress is cancelled at
// the daemon.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req and reads the response until its result, passing progress
// lines to progress and data lines to data (either may be nil to ignore
// them). A data line is the text line without its newline, or one JSON
// value, as req.Format asks; data does not keep it. An error returned by
// data stops the request (the daemon sees the client go) and is returned.
//
// Do returns nil when the daemon reports success, an *Error when it
// reports a refusal or failure, and another error when the connection
// fails. Cancelling ctx closes the connection, which cancels the request
// at the daemon. A Client serves one request.
func (c *Client) Do(ctx context.Context, req Request, progress func(Progress), data func([]byte) error) error {
	if c.used {
		return errors.New("control: a client serves one request; dial again")
	}
	c.used = true
	if req.Version == 0 {
		req.Version = Version
	}
	// Check here what the daemon would refuse, so that a mistake is
	// reported without a round trip, and in the same words.
	if err := req.Validate(); err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return &Error{Code: re.Code, Msg: re.Msg}
		}
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err := c.do(req, progress, data)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Client) do(req Request, progress func(Progress), data func([]byte) error) error {
	b, err := AppendRequest(nil, req)
	if err != nil {
		return err
	}
	// A daemon that refuses at once (busy) may close before reading the
	// request, failing the write; its reason is still there to read.
	_, werr := c.conn.Write(b)
	if werr != nil {
		werr = fmt.Errorf("control: sending request to %s: %w", c.path, unwrapOp(werr))
	}
	max := c.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 0, min(64<<10, max+1)), max+1)
	var ln line
	text := req.format() != JSON // text and XML lines are strings
	for n := 1; sc.Scan(); n++ {
		if d, ok := plainText(sc.Bytes()); text && ok {
			if data == nil {
				continue
			}
			if err := data(d); err != nil {
				return err
			}
			continue
		}
		ln = line{Data: ln.Data[:0]}
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			return fmt.Errorf("control: response line %d from %s is not JSON: %w", n, c.path, err)
		}
		switch {
		case ln.Result != nil:
			if ln.Result.OK {
				return nil
			}
			return &Error{Code: ln.Result.Code, Msg: ln.Result.Error}
		case ln.Progress != nil:
			if progress != nil {
				progress(*ln.Progress)
			}
		case len(ln.Data) > 0:
			if data == nil {
				continue
			}
			d := []byte(ln.Data)
			if text {
				var s string
				if err := json.Unmarshal(d, &s); err != nil {
					return fmt.Errorf("control: response line %d from %s: text data is not a string", n, c.path)
				}
				d = append(d[:0], s...)
			}
			if err := data(d); err != nil {
				return err
			}
		}
		// Lines of other kinds come from a newer daemon; they are
		// skipped, as JSON readers skip unknown fields.
	}
	switch err := sc.Err(); {
	case werr != nil:
		return werr
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("control: a response line from %s is longer than %d bytes", c.path, max)
	case err != nil:
		return fmt.Errorf("control: reading from %s: %w", c.path, unwrapOp(err))
	}
	return ErrNoResult
}

// Run dials path, does req and closes the connection: all a command of
// the command line needs.
func Run(ctx context.Context, path string, req Request, progress func(Progress), data func([]byte) error) error {
	c, err := Dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Do(ctx, req, progress, data)
}

// WriteLines returns a data function that writes each line and a newline
// to w, as `ctsync dump` prints a cache for shell tools (buffering is
// w's business).
func WriteLines(w io.Writer) func([]byte) error {
	var buf []byte
	return func(b []byte) error {
		buf = append(append(buf[:0], b...), '\n')
		_, err := w.Write(buf)
		return err
	}
}

// plainText returns the text of a text data line that holds nothing to
// unescape, the usual dump line, without decoding it as JSON: a dump of a
// large table is mostly such lines.
func plainText(l []byte) ([]byte, bool) {
	d, ok := bytes.CutPrefix(l, []byte(`{"data":"`))
	if !ok {
		return nil, false
	}
	if d, ok = bytes.CutSuffix(d, []byte(`"}`)); !ok {
		return nil, false
	}
	for _, c := range d {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return d, true
}
