//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go runs on (the kernel's ABI fixes it,
// whatever CONFIG_HZ is).
const clockTick = 10 * time.Millisecond

// usage is what /proc says of a process at one moment: CPU spent (user
// plus system; Sys is the system part, the kernel's work on its behalf)
// and resident memory.
type usage struct {
	CPU, Sys time.Duration
	RSS      int64 // bytes
}

func readUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	user, sys, err := parseStatCPU(stat)
	if err != nil {
		return usage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return usage{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return usage{CPU: user + sys, Sys: sys, RSS: rss}, nil
}

// parseStatCPU returns utime and stime, fields 14 and 15 of proc(5)'s
// /proc/PID/stat. The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so the fields are counted from the
// last ')'.
func parseStatCPU(stat []byte) (user, sys time.Duration, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no ')' closing the command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks [2]int64
	for i, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("utime/stime %q is not a tick count", s)
		}
		ticks[i] = n
	}
	return time.Duration(ticks[0]) * clockTick, time.Duration(ticks[1]) * clockTick, nil
}

// parseStatusRSS returns VmRSS of /proc/PID/status, in bytes.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("VmRSS %q is not a size", f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line")
}
