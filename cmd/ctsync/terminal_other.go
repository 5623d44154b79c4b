//go:build !linux

package main

import "os"

// isTerminal reports false off Linux, where the daemon does not run:
// progress is then printed one line each.
func isTerminal(*os.File) bool { return false }
