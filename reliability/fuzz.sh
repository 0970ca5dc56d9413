#!/usr/bin/env sh
# fuzz.sh runs every go test -fuzz target of licensekit for a short time each
# and prints the executions per target. CI runs the checked-in corpora (testdata/fuzz)
# as ordinary unit tests; this script explores beyond them.
#
#   reliability/fuzz.sh              # 10s per target
#   FUZZTIME=20s reliability/fuzz.sh # longer
#   reliability/fuzz.sh ./eventlog   # only these packages
#
# A failing input is written to the package's testdata/fuzz/FuzzXxx/ and the
# script exits non-zero; commit the input with the fix, as a regression input.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-10s}"
if [ "$#" -gt 0 ]; then
	PKGS="$*"
else
	PKGS="./adapters/http ./eventlog ./billing/volume ./license/licensefile"
fi
total=0
status=0
for pkg in $PKGS; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort -u); do
		log=$(mktemp)
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
			result=ok
		else
			result=FAIL
			status=1
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | sed 's/execs: //')
		execs=${execs:-0}
		total=$((total + execs))
		printf '%-5s %-22s %-24s %10s execs\n' "$result" "$pkg" "$target" "$execs"
		if [ "$result" = FAIL ]; then
			tail -30 "$log"
		fi
		rm -f "$log"
	done
done
printf 'total: %s executions (%s per target)\n' "$total" "$FUZZTIME"
exit "$status"
