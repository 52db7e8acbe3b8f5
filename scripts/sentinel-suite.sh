#!/usr/bin/env bash
# scripts/sentinel-suite.sh [BIN] [SENTINEL_BIN]
#
# The CI gate on Redis 7.0.15's Sentinel suite (14 units): BIN (default
# target/release/tandem-server) as the five data nodes, SENTINEL_BIN (default redis-sentinel on
# PATH, Debian package redis-sentinel) as the five sentinels, run with
# ../shared/redis-suite/run-sentinel.sh. Fails when a test that passes with redis-server 7.0.15
# (baseline/sentinel.passed) does not pass, except the ones listed in
# tests/sentinel-suite.expected-missing with the issue that owns them (with Tandem's own sentinel
# as SENTINEL_BIN: tests/sentinel-suite.tandem-sentinel.expected-missing). A listed test that
# passes is reported, so the list only shrinks.
#
# Sentinel failovers depend on timing, so a failing run is repeated once; the first run's
# missing tests are printed, so flakiness stays visible. The suite uses the fixed ports
# 20000-20004 and 30000-30004: one run at a time on a machine.
#
# Environment: REDIS_SUITE (default ../shared/redis-suite), SENT_OUT (default a temp dir),
# SENT_EXPECTED (the expected-missing list; default by SENTINEL_BIN as above).
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/tandem-server}
SENTINEL=${2:-$(command -v redis-sentinel)}
SUITE=${REDIS_SUITE:-../shared/redis-suite}
OUT=${SENT_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tandem-sentinel.XXXXXX")}
# Tandem's sentinel is tandem-server itself (it picks sentinel mode from the name it is run as).
if [ "$(readlink -f "$SENTINEL")" = "$(readlink -f "$BIN")" ]; then
    EXPECTED=${SENT_EXPECTED:-tests/sentinel-suite.tandem-sentinel.expected-missing}
else
    EXPECTED=${SENT_EXPECTED:-tests/sentinel-suite.expected-missing}
fi

[ -x "$SUITE/run-sentinel.sh" ] || { echo "sentinel-suite: no runner at $SUITE/run-sentinel.sh" >&2; exit 2; }
[ -x "$BIN" ] || { echo "sentinel-suite: no server binary at $BIN (cargo build --release)" >&2; exit 2; }
[ -n "$SENTINEL" ] && [ -x "$SENTINEL" ] || {
    echo "sentinel-suite: no redis-sentinel (apt-get install redis-sentinel)" >&2; exit 2; }

# The test names of the expected-missing list, normalized as run-sentinel.sh normalizes.
expected() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$EXPECTED" | sed -E 's/[0-9]+/N/g' | LC_ALL=C sort; }

# Runs the suite into $1; prints the reference passes not passed beyond the expected ones.
run() {
    local out=$1 start=$SECONDS
    SENT_OUT="$out" "$SUITE/run-sentinel.sh" "$BIN" "$SENTINEL" >&2
    echo "sentinel-suite: run took $(( SECONDS - start )) s" >&2
    [ -f "$out/vs-baseline.txt" ] || { echo "(no vs-baseline.txt: the run did not finish)"; return; }
    LC_ALL=C comm -23 <(LC_ALL=C sort "$out/vs-baseline.txt") <(expected)
}

echo "sentinel-suite: server=$BIN sentinel=$SENTINEL, output in $OUT"
mapfile -t UNEXPECTED < <(run "$OUT/run1")
if [ ${#UNEXPECTED[@]} -gt 0 ]; then
    echo "sentinel-suite: the first run missed these reference passes:"
    printf '    %s\n' "${UNEXPECTED[@]}"
    grep -h 'FAILED' "$OUT/run1/results" | sed 's/^/    /'
    echo "sentinel-suite: running the suite again"
    mapfile -t UNEXPECTED < <(run "$OUT/run2")
    last=$OUT/run2
    if [ ${#UNEXPECTED[@]} -gt 0 ]; then
        echo "sentinel-suite: FAILED twice; reference passes not passed:"
        printf '    %s\n' "${UNEXPECTED[@]}"
        grep -h 'FAILED' "$last/results" | sed 's/^/    /'
        echo "    log: $last/log"
        exit 1
    fi
    echo "sentinel-suite: passed only on a second run"
else
    last=$OUT/run1
fi
# Expected-missing tests that passed after all: the list should lose them.
mapfile -t FIXED < <(LC_ALL=C comm -23 <(expected) <(LC_ALL=C sort "$last/vs-baseline.txt"))
if [ ${#FIXED[@]} -gt 0 ]; then
    echo "sentinel-suite: these listed in $EXPECTED passed; remove them from the list:"
    printf '    %s\n' "${FIXED[@]}"
fi
echo "sentinel-suite: every reference pass passed, except the $(expected | wc -l) listed in $EXPECTED"
