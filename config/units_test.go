package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr string
	}{
		{name: "bytes", in: "1249280", want: 1249280},
		{name: "zero", in: "0", want: 0},
		{name: "KiB", in: "512KiB", want: 512 << 10},
		{name: "MiB", in: "2MiB", want: 2 << 20},
		{name: "GiB", in: "1GiB", want: 1 << 30},
		{name: "TiB", in: "1TiB", want: 1 << 40},
		{name: "space before unit", in: "2 MiB", want: 2 << 20},
		{name: "B", in: "100B", want: 100},
		{name: "KB is 1000", in: "64KB", want: 64000},
		{name: "kB is 1000", in: "64kB", want: 64000},
		{name: "MB", in: "8MB", want: 8000000},
		{name: "GB", in: "1GB", want: 1000000000},
		{name: "k is ambiguous", in: "64k", wantErr: "did you mean 64KiB"},
		{name: "M is ambiguous", in: "2M", wantErr: "did you mean 2MiB"},
		{name: "lower-case mib", in: "2mib", wantErr: "unknown size unit"},
		{name: "fraction", in: "1.5MiB", wantErr: "fractions are not allowed"},
		{name: "negative", in: "-1", wantErr: "not a size"},
		{name: "empty", in: "", wantErr: "empty size"},
		{name: "word", in: "big", wantErr: "not a size"},
		{name: "overflow", in: "99999999999999999999", wantErr: "too large"},
		{name: "unit overflow", in: "17179869184GiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		name string
		in   uint64
		want string
	}{
		{name: "zero", in: 0, want: "0"},
		{name: "bytes", in: 1000, want: "1000"},
		{name: "odd", in: 1249281, want: "1249281"},
		{name: "KiB", in: 1249280, want: "1220KiB"},
		{name: "MiB", in: 2 << 20, want: "2MiB"},
		{name: "GiB", in: 1 << 30, want: "1GiB"},
		{name: "1536MiB", in: 3 << 29, want: "1536MiB"},
		{name: "TiB", in: 5 << 40, want: "5TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatSize(tt.in); got != tt.want {
				t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseSize(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tt.in, back, err)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "bare seconds", in: "180", want: 180 * time.Second},
		{name: "zero", in: "0", want: 0},
		{name: "seconds", in: "180s", want: 180 * time.Second},
		{name: "minutes", in: "3m", want: 3 * time.Minute},
		{name: "hours and minutes", in: "1h30m", want: 90 * time.Minute},
		{name: "fraction of a second", in: "1500ms", wantErr: "not a whole number of seconds"},
		{name: "whole seconds in ms", in: "2000ms", want: 2 * time.Second},
		{name: "negative", in: "-5s", wantErr: "negative"},
		{name: "negative bare", in: "-5", wantErr: "negative"},
		{name: "days are not a unit", in: "1d", wantErr: "not a duration"},
		{name: "empty", in: "", wantErr: "empty duration"},
		{name: "huge", in: "99999999999999999", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeconds(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSeconds(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSeconds(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatSeconds(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{name: "zero", in: 0, want: "0s"},
		{name: "seconds", in: 30 * time.Second, want: "30s"},
		{name: "minutes", in: 3 * time.Minute, want: "3m"},
		{name: "hour", in: time.Hour, want: "1h"},
		{name: "90s stays seconds", in: 90 * time.Second, want: "90s"},
		{name: "90m stays minutes", in: 90 * time.Minute, want: "90m"},
		{name: "days in hours", in: 48 * time.Hour, want: "48h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatSeconds(tt.in); got != tt.want {
				t.Errorf("FormatSeconds(%v) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseSeconds(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("ParseSeconds(FormatSeconds(%v)) = %v, %v", tt.in, back, err)
			}
		})
	}
	if got := FormatSeconds(1500 * time.Millisecond); got != "1.5s" {
		t.Errorf("FormatSeconds(1.5s) = %q, want the time.Duration form", got)
	}
}
