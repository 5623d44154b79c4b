package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("#"), n), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		read    func() ([]byte, error)
		tooBig  bool
		message string
	}{
		{name: "file at the limit", read: func() ([]byte, error) { return ReadFile(write("at.hcl", MaxInputSize)) }},
		{name: "file over the limit", read: func() ([]byte, error) { return ReadFile(write("over.hcl", MaxInputSize+1)) },
			tooBig: true, message: "over.hcl: 1048577 bytes, more than 1 MiB (1048576 bytes)"},
		{name: "stream at the limit", read: func() ([]byte, error) {
			return ReadInput("<stdin>", io.LimitReader(neverEnding{}, MaxInputSize))
		}},
		// An endless stream is cut one byte past the limit.
		{name: "endless stream", read: func() ([]byte, error) { return ReadInput("<stdin>", neverEnding{}) },
			tooBig: true, message: "read <stdin>: more than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.read()
			if !tt.tooBig {
				if err != nil || len(data) != MaxInputSize {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(data), err, MaxInputSize)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || data != nil {
				t.Fatalf("got %d bytes, %v; want ErrTooLarge", len(data), err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q lacks %q", err, tt.message)
			}
		})
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	return len(p), nil
}
