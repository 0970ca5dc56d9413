package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkSQLiteAllocate/sync=FULL/service-2   	 100	 3000000 ns/op	 17679 B/op	 309 allocs/op
BenchmarkSQLiteAllocate/sync=FULL/service-2   	 100	 5000000 ns/op	 17679 B/op	 309 allocs/op
BenchmarkSQLiteAllocate/sync=FULL/service-2   	 100	 3100000 ns/op	 17679 B/op	 309 allocs/op
BenchmarkSQLiteAllocate/sync=FULL/base-tx-2   	 100	 2000000 ns/op	 576 B/op	 24 allocs/op
BenchmarkSQLiteAllocate/sync=NORMAL/service-2 	 100	 1000000 ns/op
BenchmarkSQLiteAllocate/sync=NORMAL/base-tx-2 	 100	 100000 ns/op
BenchmarkHTTPLease/store=memory/clients=8/http-2   	 100	 100000 ns/op
BenchmarkHTTPLease/store=memory/clients=32/http-2  	 100	 200000 ns/op
BenchmarkExportEvents/events=100000/export-2  	 1	 5 ns/op	 4 peak-heap-MB
BenchmarkExportEvents/events=1000000/export-2 	 1	 50 ns/op	 5 peak-heap-MB
PASS
`

func TestReportComparesWithBaselinesAndTargets(t *testing.T) {
	var out strings.Builder
	missed := report(strings.NewReader(sample), &out)
	text := out.String()
	// Median of 3.0, 3.1 and 5.0 ms over 2.0 ms: 1.55, within 2x.
	assert.Contains(t, text, "| SQLiteAllocate/sync=FULL/service | base-tx | 3.10 ms | 2.00 ms | 1.55 | ≤ 2 | ok |")
	assert.Contains(t, text, "| SQLiteAllocate/sync=NORMAL/service | base-tx | 1.00 ms | 100.0 µs | 10.00 | ≤ 2 | MISS |")
	// 32 clients at half the rate of 8: a collapse.
	assert.Contains(t, text, "rate 32 clients / 8 clients (no collapse) | 200.0 µs | 100.0 µs | 0.50 | ≥ 0.8 | MISS |")
	assert.Contains(t, text, "peak heap 1M events / 100k events (flat) | 5 peak-heap-MB | 4 peak-heap-MB | 1.25 | ≤ 1.5 | ok |")
	require.Equal(t, 2, missed)
	assert.Contains(t, text, "2 target(s) missed")
}

func TestRatioPairsRunsWhenInterleaved(t *testing.T) {
	// Run 1 on a quiet machine, run 2 on a busy one: both twice the baseline.
	in := `BenchmarkX/a/service-2 1 200 ns/op
BenchmarkX/a/base-tx-2 1 100 ns/op
BenchmarkX/a/service-2 1 800 ns/op
BenchmarkX/a/base-tx-2 1 400 ns/op
BenchmarkX/a/service-2 1 1000 ns/op
BenchmarkX/a/base-tx-2 1 500 ns/op
`
	s, _ := parse(strings.NewReader(in))
	r, ok := s.ratio("BenchmarkX/a/service", "BenchmarkX/a/base-tx", "ns/op")
	require.True(t, ok)
	assert.InDelta(t, 2.0, r, 1e-9)
	m, _ := s.median("BenchmarkX/a/service", "ns/op")
	assert.InDelta(t, 800, m, 1e-9)
}
