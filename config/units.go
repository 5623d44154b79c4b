package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sizes are written as plain bytes ("1249280") or as a whole number with a
// unit. IEC units (KiB, MiB, GiB, TiB) are powers of 1024, SI units (KB or
// kB, MB, GB, TB) powers of 1000, and "B" is bytes. Units are case-sensitive
// and a single space may separate number and unit. Fractions ("1.5MiB") and
// ambiguous shorthands ("64k", "2M") are rejected with a hint, because a
// firewall operator who writes "2M" could mean either 2000000 or 2097152.
var sizeUnits = []struct {
	name string
	mult uint64
}{
	{"B", 1},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"kB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
}

// ParseSize parses a byte size such as "1249280", "512KiB", "2MiB", "1GiB"
// or "64KB" (64000). See sizeUnits for the accepted units.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size: want bytes or a whole number with a unit (KiB, MiB, GiB, KB, MB, GB)", s)
	}
	num, unit := t[:i], strings.TrimPrefix(t[i:], " ")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large for a size", s)
	}
	if unit == "" {
		return n, nil
	}
	if strings.HasPrefix(unit, ".") || strings.HasPrefix(unit, ",") {
		return 0, fmt.Errorf("%q is not a size: fractions are not allowed; write a smaller unit or bytes", s)
	}
	for _, u := range sizeUnits {
		if unit == u.name {
			if n > math.MaxUint64/u.mult {
				return 0, fmt.Errorf("%q is too large for a size", s)
			}
			return n * u.mult, nil
		}
	}
	hint := ""
	switch strings.ToLower(unit) {
	case "k", "kb", "kib":
		hint = fmt.Sprintf("; did you mean %sKiB (×1024) or %sKB (×1000)?", num, num)
	case "m", "mb", "mib":
		hint = fmt.Sprintf("; did you mean %sMiB (×1024²) or %sMB (×1000²)?", num, num)
	case "g", "gb", "gib":
		hint = fmt.Sprintf("; did you mean %sGiB (×1024³) or %sGB (×1000³)?", num, num)
	case "b", "bytes", "byte":
		hint = fmt.Sprintf("; did you mean %s?", num)
	}
	return 0, fmt.Errorf("%q has an unknown size unit %q: want KiB, MiB, GiB, TiB, KB, MB, GB, TB or none for bytes%s", s, unit, hint)
}

// FormatSize writes n in the largest IEC unit that divides it exactly, or as
// plain bytes: 2097152 → "2MiB", 1249280 → "1220KiB", 1000 → "1000".
// ParseSize(FormatSize(n)) == n for every n.
func FormatSize(n uint64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10)
}

// ParseSeconds parses a duration written as a Go duration ("180s", "3m",
// "1h30m") or as bare whole seconds ("180"). The legacy daemon counts in
// seconds, so the result must be a whole, non-negative number of seconds.
func ParseSeconds(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative: durations must be zero or more", s)
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil {
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("%q is too long a duration", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: want seconds (\"180\") or a duration such as \"180s\", \"3m\" or \"1h30m\"", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds: conntrack timers have second resolution", s)
	}
	return d, nil
}

// FormatSeconds writes d in the largest of h, m, s that divides it exactly:
// "30s", "3m", "1h", "90s". Durations that are not whole seconds (which
// ParseSeconds never returns) fall back to time.Duration's own form.
func FormatSeconds(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second != 0 || d < 0:
		return d.String()
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
