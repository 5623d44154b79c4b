//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
)

// runLab needs Linux: the lab is made of network namespaces.
func runLab(context.Context, labOptions, io.Writer, io.Writer) error {
	return errors.New("the demo builds Linux network namespaces: it runs on Linux only")
}
