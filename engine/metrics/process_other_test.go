//go:build !linux

package metrics

const processMetrics = false
