package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// labOptions say how `ctsync lab` runs.
type labOptions struct {
	mode, transport string
	flows           int
	nat, verbose    bool
	// skipCommit leaves out the commit on the backup, so that the
	// connections must break: the demo's own test shows with it that the
	// demo can fail. No flag sets it.
	skipCommit bool
}

// maxLabFlows is how many distinct synthetic flows the lab can make up
// (lab.Synthetic).
const maxLabFlows = 65536

func labCommand() *cli.Command {
	return &cli.Command{
		Name:         "lab",
		Usage:        "demo, as root: two firewalls in network namespaces, connections replicated, fail-over, commit, connections alive",
		ArgsUsage:    " ",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "ftfw", Usage: "sync mode: ftfw, notrack or alarm"},
			&cli.StringFlag{Name: "transport", Value: "udp", Usage: "sync link transport: udp, multicast or tcp"},
			&cli.IntFlag{Name: "flows", Value: 1000, Usage: fmt.Sprintf("synthetic flows to create on the primary besides the real connections (0 to %d)", maxLabFlows)},
			&cli.BoolFlag{Name: "nat", Usage: "the firewalls SNAT the connections they forward"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also log what the engines do"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("lab: takes no arguments")
			}
			o := labOptions{mode: c.String("mode"), transport: c.String("transport"),
				flows: c.Int("flows"), nat: c.Bool("nat"), verbose: c.Bool("verbose")}
			if err := o.check(); err != nil {
				return usageErr("lab: %v", err)
			}
			if err := checkLabHost(os.Geteuid(), exec.LookPath); err != nil {
				return &exitError{code: exitInvalid, msg: "lab: " + err.Error()}
			}
			// The namespaces must go also when the demo is interrupted
			// (^C, a closed terminal, a CI time-out, a reader of its
			// output gone, as in "ctsync lab | head": without Notify,
			// SIGPIPE would kill the process): these signals end the
			// demo's context, and its runner cleans up.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			if err := runLab(ctx, o, c.App.Writer, c.App.ErrWriter); err != nil {
				return &exitError{code: exitInvalid, msg: "lab: " + err.Error()}
			}
			return nil
		},
	}
}

func (o labOptions) check() error {
	if !slices.Contains([]string{"ftfw", "notrack", "alarm"}, o.mode) {
		return fmt.Errorf("--mode %q: want ftfw, notrack or alarm", o.mode)
	}
	if !slices.Contains([]string{"udp", "multicast", "tcp"}, o.transport) {
		return fmt.Errorf("--transport %q: want udp, multicast or tcp", o.transport)
	}
	if o.flows < 0 || o.flows > maxLabFlows {
		return fmt.Errorf("--flows %d: want 0 to %d", o.flows, maxLabFlows)
	}
	return nil
}

// labTools are the commands the lab runs, with the Debian package of each.
var labTools = []struct{ command, pkg string }{
	{"ip", "iproute2"},
	{"nft", "nftables"},
	{"conntrack", "conntrack"},
}

// checkLabHost says what the demo lacks to run: root, and the commands
// the lab runs.
func checkLabHost(euid int, lookPath func(string) (string, error)) error {
	var missing []string
	if euid != 0 {
		missing = append(missing, fmt.Sprintf("root (it runs as uid %d: use sudo)", euid))
	}
	for _, t := range labTools {
		if _, err := lookPath(t.command); err != nil {
			missing = append(missing, fmt.Sprintf("the %s command (apt-get install %s)", t.command, t.pkg))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the demo builds network namespaces and lacks %s", strings.Join(missing, ", "))
}
