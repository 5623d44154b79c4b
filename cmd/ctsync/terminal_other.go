//go:build !linux

package main

import "os"

// isTerminal reports false off Linux, where the daemon does not run:
// progress is then printed as plain lines.
func isTerminal(*os.File) bool { return false }

// terminalWidth is never asked off Linux.
func terminalWidth(*os.File) int { return 0 }
