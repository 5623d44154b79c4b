package metrics

// The process collector reads /proc: it has figures on Linux only.
const processMetrics = true
