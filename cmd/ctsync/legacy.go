package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ctsync/ctsync/engine/control"
)

// conntrackd's command line, as 1.4.7 parses it (src/main.c): ctsync
// takes it when invoked as conntrackd (a symlink) or as `ctsync
// conntrackd ARGS...`, so that keepalived's primary-backup.sh and other
// scripts run unchanged. docs/compat.md lists where ctsync differs.

// legacyName is the command name that selects conntrackd's command line.
const legacyName = "conntrackd"

// legacyConfig is conntrackd's default configuration file.
const legacyConfig = "/etc/conntrackd/conntrackd.conf"

// legacyVersion is the conntrackd release whose command line this is.
const legacyVersion = "1.4.7"

// legacyUsage is `conntrackd -h`'s text after its first two lines,
// byte for byte as 1.4.7 prints it (also before an error).
const legacyUsage = `General commands:
  -d, run in daemon mode
  -C [configfile], configuration file path
  -v, display conntrackd version
  -h, display this help information

Client mode commands:
  -c [ct|expect], commit external cache to conntrack table
  -f [internal|external], flush internal and external cache
  -F [ct|expect], flush kernel conntrack table
  -i [ct|expect], display content of the internal cache
  -e [ct|expect], display the content of the external cache
  -k, kill conntrack daemon
  -s  [network|cache|runtime|link|rsqueue|queue|ct|expect], dump statistics
  -R [ct|expect], resync with kernel conntrack table
  -n, request resync with other node (only FT-FW and NOTRACK modes)
  -B, force a bulk send to other replica firewalls
  -x, dump cache in XML format (requires -i or -e)
  -t, reset the kernel timeout (see PurgeTimeout clause)

`

// legacyMode is what a command line asks for: conntrackd runs as the
// daemon or as a client sending one request.
type legacyMode int

const (
	modeUnset legacyMode = iota
	modeDaemon
	modeRequest
)

// legacyCmd is a parsed conntrackd command line.
type legacyCmd struct {
	config string // -C; legacyConfig when not given
	mode   legacyMode
	// req is the request of the last client option; set is false when
	// no option set one (`-c zz`: conntrackd then has no action).
	req control.Request
	set bool
	// option is the client option that set req, for messages: "-c".
	option string
}

// legacyOut writes conntrackd's messages: the usage and version to
// standard output, log lines to standard error in its log format.
type legacyOut struct {
	prog           string
	stdout, stderr io.Writer
	now            func() time.Time
}

// log writes a line as conntrackd's dlog does on a terminal:
// "[Sun Nov 29 20:13:41 2026] (pid=31869) [ERROR] text".
func (o *legacyOut) log(level, format string, args ...any) {
	fmt.Fprintf(o.stderr, "[%s] (pid=%d) [%s] %s\n", o.now().Format("Mon Jan _2 15:04:05 2006"), os.Getpid(), level, fmt.Sprintf(format, args...))
}

func (o *legacyOut) usage() {
	fmt.Fprintf(o.stdout, "Connection tracking userspace daemon v%s\nUsage: %s [commands] [options]\n\n%s", legacyVersion, o.prog, legacyUsage)
}

func (o *legacyOut) version() {
	fmt.Fprintf(o.stdout, "Connection tracking userspace daemon v%s. Licensed under GPLv2.\n(C) 2006-2009 Pablo Neira Ayuso <pablo@netfilter.org>\n", legacyVersion)
}

// subArg matches the argument after an option against words by prefix,
// as conntrackd does (strncmp with the typed length: "c" is "ct", and so
// is the empty string): the first word the argument begins is the one.
// It returns -1 when there is no argument (the last one, or one that
// begins with '-') and -2 when the argument matches no word.
func subArg(args []string, i int, words ...string) int {
	if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
		return -1
	}
	for k, w := range words {
		if strings.HasPrefix(w, args[i+1]) {
			return k
		}
	}
	return -2
}

// parseLegacy parses args (without the program name) as conntrackd
// 1.4.7 does: left to right, each argument by its second character only,
// sub-arguments by prefix. What conntrackd prints while parsing (usage,
// version, errors) is printed as it goes. It returns the command, or
// done and the exit status when the command line is all there is to do
// (-v, -h, an error, an unknown option).
func parseLegacy(args []string, o *legacyOut) (cmd legacyCmd, code int, done bool) {
	// Where conntrackd's lax parsing takes an argument for another, say
	// so (reference defect F.1 item 8): scripts keep working, and whoever
	// reads the output learns what was understood.
	lax := func(arg, meant string) {
		if arg != meant {
			o.log("warning", "ctsync: taking `%s' as `%s', as conntrackd %s does", arg, meant, legacyVersion)
		}
	}
	setMode := func(m legacyMode) bool {
		if cmd.mode != modeUnset && cmd.mode != m {
			o.usage()
			o.log("ERROR", "Invalid parameters")
			return false
		}
		cmd.mode = m
		return true
	}
	request := func(i int, req control.Request) {
		cmd.req, cmd.set, cmd.option = req, true, "-"+args[i][1:2]
	}
	// byTable is conntrackd's set_action_by_table: a sub-argument ct or
	// expect picks the table; an unknown one is not consumed and leaves
	// the action as it was.
	byTable := func(i int, req control.Request, withTable func(control.Request, control.Table) control.Request) int {
		switch k := subArg(args, i, "ct", "expect"); k {
		case -1:
			request(i, req)
		case -2:
			o.log("warning", "ctsync: `%s' is neither ct nor expect: conntrackd %s leaves %s without effect and reads `%s' as an option", args[i+1], legacyVersion, args[i], args[i+1])
		default:
			table := []control.Table{control.Conntracks, control.Expectations}[k]
			lax(args[i+1], string(table))
			request(i, withTable(req, table))
			return i + 1
		}
		return i
	}
	setTable := func(r control.Request, t control.Table) control.Request { r.Table = t; return r }
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if len(arg) < 2 {
			o.usage()
			o.log("ERROR", "Unknown option: %s", arg)
			return cmd, 0, true // 1.4.7's status; 1.4.9 exits 1
		}
		opt := arg[1]
		if arg != "-"+string(opt) && strings.ContainsRune("dcieCFfRBtksnxvh", rune(opt)) {
			lax(arg, "-"+string(opt))
		}
		switch opt {
		case 'd':
			if !setMode(modeDaemon) {
				return cmd, 1, true
			}
		case 'c':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			i = byTable(i, control.Request{Command: control.Commit}, setTable)
		case 'i', 'e':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			cache := control.Internal
			if opt == 'e' {
				cache = control.External
			}
			i = byTable(i, control.Request{Command: control.Dump, Cache: cache}, func(r control.Request, t control.Table) control.Request {
				if t == control.Expectations {
					r.Table = t
				}
				return r
			})
		case 'C':
			if i+1 < len(args) {
				i++
				cmd.config = args[i]
				break
			}
			// 1.4.7 goes on with the default file; 1.4.9 exits 1.
			o.usage()
			o.log("ERROR", "Missing config filename")
		case 'F':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			i = byTable(i, control.Request{Command: control.FlushKernel}, setTable)
		case 'f':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			req := control.Request{Command: control.Flush}
			switch k := subArg(args, i, "internal", "external"); k {
			case -1:
			case -2:
				o.log("ERROR", "unknown parameter `%s' for option `-f'", args[i+1])
				return cmd, 1, true
			default:
				req.Cache = []control.Cache{control.Internal, control.External}[k]
				lax(args[i+1], string(req.Cache))
				i++
			}
			cmd.req, cmd.set, cmd.option = req, true, "-f"
		case 'R':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			i = byTable(i, control.Request{Command: control.Resync, Kernel: true}, setTable)
		case 'B', 't', 'k', 'n':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			request(i, control.Request{Command: map[byte]control.Command{'B': control.Bulk, 't': control.Purge, 'k': control.Stop, 'n': control.Resync}[opt]})
		case 's':
			if !setMode(modeRequest) {
				return cmd, 1, true
			}
			words := []string{"network", "cache", "runtime", "multicast", "link", "rsqueue", "process", "queue", "ct", "expect"}
			sections := []control.Section{control.SectionNetwork, control.SectionCache, control.SectionRuntime, control.SectionLink, control.SectionLink,
				control.SectionRSQueue, control.SectionProcess, control.SectionQueue, control.SectionGeneral, control.SectionExpect}
			req := control.Request{Command: control.Stats, Section: control.SectionGeneral}
			switch k := subArg(args, i, words...); k {
			case -1:
			case -2:
				o.log("ERROR", "unknown parameter `%s' for option `-s'", args[i+1])
				return cmd, 1, true
			default:
				if words[k] == "multicast" {
					o.log("warning", "use `link' instead of `multicast' as parameter.")
				} else {
					lax(args[i+1], words[k])
				}
				req.Section = sections[k]
				i++
			}
			cmd.req, cmd.set, cmd.option = req, true, "-s"
		case 'x':
			// -x turns the dump given before it into XML, once.
			if !cmd.set || cmd.req.Command != control.Dump || cmd.req.Format == control.XML {
				o.usage()
				o.log("ERROR", "Invalid parameters")
				return cmd, 1, true
			}
			cmd.req.Format = control.XML
		case 'v':
			o.version()
			return cmd, 0, true
		case 'h':
			o.usage()
			return cmd, 0, true
		default:
			o.usage()
			o.log("ERROR", "Unknown option: %s", arg)
			return cmd, 0, true // 1.4.7's status; 1.4.9 exits 1
		}
	}
	if cmd.config == "" {
		cmd.config = legacyConfig
	}
	return cmd, 0, false
}
