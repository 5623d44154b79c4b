// Command ctsync replicates connection-tracking state between Linux
// firewalls. It is a rewrite of conntrackd: it reads conntrackd.conf through
// `ctsync migrate` and speaks conntrackd's sync protocol.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ctsync/ctsync/config"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line and returns the process status: 0, 1 for an
// invalid configuration, 2 for usage and I/O errors.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if prog, rest, ok := isLegacy(args); ok {
		return runLegacy(prog, rest, stdin, stdout, stderr)
	}
	app := newApp(stdin, stdout, stderr)
	if len(args) < 2 {
		// No command is a usage error: the help goes to stderr, so a
		// script that forgot its arguments fails visibly.
		app.Writer = stderr
		_ = app.Run([]string{args0(args), "--help"})
		return exitUsage
	}
	name := args[1]
	if name == "help" && len(args) > 2 {
		name = args[2] // ctsync help valdiate
	}
	if !strings.HasPrefix(name, "-") && app.Command(name) == nil && name != "help" {
		fmt.Fprintf(stderr, "ctsync: unknown command %q%s\n", name, suggestCommand(app, name))
		fmt.Fprintln(stderr, "Run 'ctsync help' for the list of commands.")
		return exitUsage
	}
	err := app.Run(interspersed(app, args))
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "ctsync:", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "ctsync:", err)
	return exitUsage
}

func args0(args []string) string {
	if len(args) == 0 {
		return "ctsync"
	}
	return args[0]
}

// suggestCommand names the command nearest to a mistyped one (valdiate →
// validate), by the rule config uses for every other suggestion.
func suggestCommand(app *cli.App, name string) string {
	names := []string{"help"}
	for _, c := range app.Commands {
		names = append(names, c.Names()...)
	}
	return config.DidYouMean(name, names)
}
