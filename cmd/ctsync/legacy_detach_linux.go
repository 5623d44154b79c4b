package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// readyEnv names the descriptor on which a daemon started by
// `conntrackd -d` says it is up.
const readyEnv = "CTSYNC_DETACHED_READY_FD"

// detachDaemon is conntrackd -d: the daemon runs in the background, in
// its own session, with standard input, output and error on /dev/null
// and / as its directory, and this process exits 0 once it serves, or 1
// with the daemon's messages when it cannot start. conntrackd forks after
// its start-up; a Go program cannot fork, so ctsync runs itself again as
// `ctsync daemon FILE` and waits for it to say it is up.
func detachDaemon(configPath string, o *legacyOut) int {
	exe, err := os.Executable()
	if err != nil {
		o.log("ERROR", "fork has failed: %v", err)
		return exitFailed
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		o.log("ERROR", "can't open config file `%s'", configPath)
		return exitFailed
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		o.log("ERROR", "fork has failed: %v", err)
		return exitFailed
	}
	defer readyR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		o.log("ERROR", "fork has failed: %v", err)
		return exitFailed
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		readyW.Close()
		errW.Close()
		o.log("ERROR", "fork has failed: %v", err)
		return exitFailed
	}
	// argv[0] is ctsync's own name, not conntrackd's: the daemon
	// command is ctsync's.
	c := &exec.Cmd{Path: exe, Args: []string{"ctsync", "daemon", "--" + notifyServingFlag.Name, abs}}
	c.Stdin, c.Stdout, c.Stderr = null, null, errW
	c.ExtraFiles = []*os.File{readyW} // descriptor 3
	c.Env = append(os.Environ(), readyEnv+"=3")
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = c.Start()
	readyW.Close()
	errW.Close()
	null.Close()
	if err != nil {
		errR.Close()
		o.log("ERROR", "fork has failed: %v", err)
		return exitFailed
	}
	// Until it is up, the daemon's messages (a bad configuration, a lock
	// file taken) come here, as conntrackd's do before it forks.
	copied := make(chan struct{})
	go func() { copyWarnings(o.stderr, errR); close(copied) }()
	var b [1]byte
	if n, _ := readyR.Read(b[:]); n == 1 {
		// The daemon moved its standard error to /dev/null before
		// saying so: what it wrote until then is all in the pipe. Print
		// all of it before exiting, else the copy races the exit and a
		// script sees none, some or all of the lines, a line cut short.
		// Bounded: a process the daemon started could hold the pipe.
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
		c.Process.Release()
		return 0
	}
	<-copied
	errR.Close()
	c.Wait()
	return exitFailed
}

// detachedReady tells the `conntrackd -d` that started this daemon that
// it is up, after moving standard output and error to /dev/null: that
// process exits then, and a write to its pipe would kill the daemon
// (SIGPIPE). A daemon not started that way does nothing.
func detachedReady(log *slog.Logger) {
	fd, err := strconv.Atoi(os.Getenv(readyEnv))
	if err != nil || fd < 3 {
		return
	}
	os.Unsetenv(readyEnv)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err == nil {
		syscall.Dup3(int(null.Fd()), 1, 0)
		syscall.Dup3(int(null.Fd()), 2, 0)
		null.Close()
	} else {
		log.Warn("daemon mode: /dev/null cannot be opened; standard error stays on the starting process's pipe", "err", err)
	}
	ready := os.NewFile(uintptr(fd), "ready")
	ready.Write([]byte{1})
	ready.Close()
}

// copyWarnings copies the daemon's start-up messages but its INFO and
// DEBUG log lines: conntrackd -d prints only what went wrong (its log
// file gets the rest), and scripts capture what -d prints.
func copyWarnings(w io.Writer, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(" level=INFO ")) || bytes.Contains(line, []byte(" level=DEBUG ")) {
			continue
		}
		w.Write(append(line, '\n'))
	}
	io.Copy(io.Discard, r) // a line past the bound: drain, never block the daemon
}
