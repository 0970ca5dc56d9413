// Package bench is licensekit's benchmark suite. Each Benchmark function runs
// the operation under test beside its baseline in the same invocation: the
// baselines are the sub-benchmarks named base-*, so one `go test -bench` run
// yields both and their ratio can be read even on a noisy machine. The
// concurrent runs use package loadgen (bench/loadgen), which also backs the
// cmd/lkload load generator for a running server. bench/run.sh runs
// everything with benchstat and prints the ratios against the performance
// targets (bench/cmd/ratios); bench/README.md has the targets, the latest
// figures and what the profiles showed. The package holds no code that runs
// in a plain `go test` beyond compiling; PostgreSQL benchmarks skip when
// LICENSEKIT_BENCH_POSTGRES_DSN and LICENSEKIT_TEST_POSTGRES_DSN are unset.
package bench
