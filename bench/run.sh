#!/bin/sh
# Runs licensekit's benchmark suite (package bench) with enough runs for
# benchstat, then prints benchstat's table and the ratios of each benchmark to
# its baseline against the performance targets (bench/cmd/ratios; see
# bench/README.md).
#
#   bench/run.sh                      # everything, 6 interleaved runs of 1s per benchmark
#   COUNT=3 BENCH=HTTP bench/run.sh   # a subset
#
# Environment:
#   COUNT      runs per benchmark (6)
#   BENCHTIME  -benchtime (1s)
#   BENCH      -bench pattern (.)
#   OUT        where the raw `go test` output goes (a temporary file)
#   LICENSEKIT_BENCH_POSTGRES_DSN or LICENSEKIT_TEST_POSTGRES_DSN
#              PostgreSQL database for the PostgreSQL benchmarks (each run
#              uses a schema of its own, dropped afterwards); unset: skipped.
#              For example, after `createdb -h 127.0.0.1 -U postgres lk_bench`:
#              postgres://postgres@127.0.0.1:5432/lk_bench?sslmode=disable
# The event-log export benchmark builds SQLite files of 100,000 and 1,000,000
# events once (a minute or two) and keeps them in $TMPDIR as
# licensekit-bench-events-*.db.
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
work=$(mktemp -d)
OUT=${OUT:-$work/bench.txt}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version) GOMAXPROCS=$(nproc) $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-)"
# The runs are interleaved (COUNT invocations of -count 1, not one of
# -count COUNT), so that a benchmark and its baseline see the same machine
# load over the whole run rather than one after the other.
echo "# $COUNT x: go test -run '^\$' -bench '$BENCH' -benchmem -count 1 -benchtime $BENCHTIME ./bench/"
: >"$OUT"
go test -c -o "$work/bench.test" ./bench/
i=1
while [ "$i" -le "$COUNT" ]; do
	echo "# run $i of $COUNT" >&2
	(cd bench && "$work/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.count 1 -test.benchtime "$BENCHTIME" -test.timeout 4h) | tee -a "$OUT"
	i=$((i + 1))
done

echo
echo "## benchstat"
if GOBIN="$work/bin" go install "$BENCHSTAT" 2>"$work/install.log"; then
	"$work/bin/benchstat" "$OUT"
else
	echo "(benchstat could not be installed: $(tail -1 "$work/install.log"))"
fi

echo
echo "## ratios to the baselines and targets"
go run ./bench/cmd/ratios < "$OUT"
echo
echo "raw output: $OUT"
