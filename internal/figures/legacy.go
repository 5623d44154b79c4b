//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/legacyd"
)

// legacyDaemon is conntrackd 1.4.7 on a lab firewall, run by
// internal/legacyd in the foreground, so that its process id is its own.
type legacyDaemon struct {
	fw, peer *lab.Node
	n        int
	d        *legacyd.Daemon
}

// legacyConf is conntrackd's configuration for n entries, as fair as
// ctsync's (config in daemon.go) and the legacy baseline's: FT-FW over
// UDP on the sync link, hash table and limit sized for n, sync socket
// buffers of 24 MB, the event socket's buffer starting where ctsync's
// does (32 MiB) and allowed to grow as far (128 MiB), a resend queue
// that holds a whole bulk send, and the user-space filter accepting TCP
// and UDP and ignoring the lab's own addresses, as ctsync's does. The
// scheduler is left to its default, SCHED_RR at 99, which ctsync
// applies to its event reader (docs/compat.md).
func legacyConf(f legacyd.Files, fw, peer *lab.Node, n int) string {
	return legacyConfAt(f, fw.SyncAddrs[0].Addr().String(), peer.SyncAddrs[0].Addr().String(), fw.Sync, n)
}

func legacyConfAt(f legacyd.Files, local, peer, ifname string, n int) string {
	hash := 65536
	for hash < n {
		hash *= 2
	}
	return fmt.Sprintf(`Sync {
	Mode FTFW {
		ResendQueueSize %[1]d
	}
	UDP {
		IPv4_address %[2]s
		IPv4_Destination_Address %[3]s
		Port %[4]d
		Interface %[5]s
		SndSocketBuffer 25165824
		RcvSocketBuffer 25165824
		Checksum on
	}
}
General {
	Systemd off
	HashSize %[6]d
	HashLimit %[1]d
	LogFile %[7]s
	Syslog off
	LockFile %[8]s
	UNIX { Path %[9]s }
	NetlinkBufferSize 33554432
	NetlinkBufferSizeMaxGrowth 134217728
	Filter From Userspace {
		Protocol Accept {
			TCP
			UDP
		}
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv6_address ::1
			IPv4_address 198.51.100.128/25
			IPv6_address 2001:db8:3::/64
		}
	}
}
`, 2*n+65536, local, peer, lab.SyncPort, ifname,
		hash, f.LogFile, f.LockFile, f.Socket)
}

func startLegacy(t *tb, fw, peer *lab.Node, n int) *legacyDaemon {
	d := &legacyDaemon{fw: fw, peer: peer, n: n}
	d.start(t)
	return d
}

func (d *legacyDaemon) start(t *tb) {
	f := legacyd.FilesIn(t.TempDir())
	d.d = legacyd.Start(t, d.fw, string(d.fw.Role), f, legacyConf(f, d.fw, d.peer, d.n))
}

func (d *legacyDaemon) pid() int { return d.d.Pid() }

func (d *legacyDaemon) ctl(t *tb, args ...string) string {
	return d.d.MustCtl(t, args...)
}

func (d *legacyDaemon) counters(t *tb) counters {
	c, err := parseLegacyStats(d.ctl(t, "-s"))
	if err != nil {
		t.Fatalf("%s: conntrackd -s: %v", d.fw.Role, err)
	}
	return c
}

func (d *legacyDaemon) overruns(t *tb) uint64 {
	o, err := parseLegacyOverruns(d.ctl(t, "-s", "runtime"))
	if err != nil {
		t.Fatalf("%s: conntrackd -s runtime: %v", d.fw.Role, err)
	}
	return o
}

func (d *legacyDaemon) bulk(t *tb)   { d.ctl(t, "-B") }
func (d *legacyDaemon) resync(t *tb) { d.ctl(t, "-n") }
func (d *legacyDaemon) commit(t *tb) { d.ctl(t, "-c") }

// acked waits until conntrackd's resend queue holds at most one entry:
// as ctsync's (bulkAcknowledged), it keeps its own latest ACK there until
// the peer's next one.
func (d *legacyDaemon) acked(t *tb, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		q, err := parseLegacyQueue(d.ctl(t, "-s", "rsqueue"))
		if err == nil && q <= 1 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "%s: conntrackd's resend queue still holds %d updates after %v (%v); going on\n", d.fw.Role, q, limit, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *legacyDaemon) restart(t *tb) {
	d.d.Stop()
	d.start(t)
}

func (d *legacyDaemon) keep(name string) {
	os.WriteFile(name+".log", []byte(d.d.Log()), 0o644)
	os.WriteFile(name+".stderr", []byte(d.d.Output()), 0o644)
	if out, err := d.d.Ctl("-s"); err == nil {
		os.WriteFile(name+".stats", []byte(out), 0o644)
	}
}

// parseLegacyStats reads the caches' figures from `conntrackd -s`'s
// output (each cache's counters): the active
// entries of "cache internal" and "cache external", and, as the
// messages applied, the external cache's created and updated entries.
func parseLegacyStats(out string) (counters, error) {
	var c counters
	section := ""
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "cache internal:" || line == "cache external:":
			section = line
			continue
		case line == "":
			section = ""
			continue
		case section == "":
			continue
		}
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return counters{}, fmt.Errorf("%s %s: %q is not a count", section, key, f[0])
		}
		switch {
		case key == "current active connections" && section == "cache internal:":
			c.Internal = v
			seen |= 1
		case key == "current active connections":
			c.External = v
			seen |= 2
		case (key == "connections created" || key == "connections updated") && section == "cache external:":
			c.Applied += v
			seen |= 4
		}
	}
	if seen != 7 {
		return counters{}, fmt.Errorf("no active connections or created/updated counts for both caches in %q", out)
	}
	return c, nil
}

// parseLegacyOverruns reads "netlink overrun" from `conntrackd -s
// runtime`: the event socket's overruns
// (ENOBUFS).
func parseLegacyOverruns(out string) (uint64, error) {
	return legacyField(out, "netlink overrun:")
}

// parseLegacyQueue reads the resend queue's length from `conntrackd -s
// rsqueue`'s "resent queue (len=N)".
func parseLegacyQueue(out string) (int, error) {
	_, rest, ok := strings.Cut(out, "resent queue (len=")
	if !ok {
		return 0, fmt.Errorf("no \"resent queue (len=\" in %q", out)
	}
	s, _, _ := strings.Cut(rest, ")")
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("resent queue length %q is not a count", s)
	}
	return n, nil
}

func legacyField(out, key string) (uint64, error) {
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		return strconv.ParseUint(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %q line in %q", key, out)
}
