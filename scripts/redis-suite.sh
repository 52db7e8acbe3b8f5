#!/usr/bin/env bash
# scripts/redis-suite.sh [BIN] [LIST]
#
# The CI gate on Redis 7.0.15's own Tcl suite: runs every file named in LIST (default
# tests/redis-suite.list: one suite file a line, `#` comments) against BIN (default
# target/release/tandem-server) with ../shared/redis-suite/run.sh, two files at a time, and
# fails when a test that passes on redis-server 7.0.15 (the suite's baseline) does not pass,
# or when a file aborts (watchdog, Tcl exception).
#
# A few of Redis's tests are timing-sensitive on a loaded 2-core machine, so a file that
# fails is run once more, alone; the script prints that it did and which tests failed the
# first time, so flakiness stays visible. A file that fails twice fails the gate.
#
# Environment: REDIS_SUITE (default ../shared/redis-suite), SUITE_OUT (default a temp dir),
# TCL_JOBS (default 2).
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/tandem-server}
LIST=${2:-tests/redis-suite.list}
SUITE=${REDIS_SUITE:-../shared/redis-suite}
OUT=${SUITE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tandem-suite.XXXXXX")}

[ -x "$SUITE/run.sh" ] || { echo "redis-suite: no suite runner at $SUITE/run.sh" >&2; exit 2; }
[ -x "$BIN" ] || { echo "redis-suite: no server binary at $BIN (cargo build --release)" >&2; exit 2; }
mapfile -t FILES < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$LIST")
[ ${#FILES[@]} -gt 0 ] || { echo "redis-suite: $LIST lists no file" >&2; exit 2; }

# Prints the files of run folder $1 that failed the gate, one a line.
failed_files() {
    local out=$1 f name summary note
    for f in "${FILES[@]}"; do
        name=${f//\//_}
        summary="$out/results/$name.summary"
        if [ ! -f "$summary" ]; then echo "$f"; continue; fi
        note=$(cut -f7 "$summary")
        if [ -s "$out/results/$name.missing" ] || [[ "$note" == *aborted* ]]; then echo "$f"; fi
    done
}

echo "redis-suite: ${#FILES[@]} files from $LIST, output in $OUT"
TCL_JOBS=${TCL_JOBS:-2} TCL_OUT="$OUT/run1" "$SUITE/run.sh" "$BIN" "${FILES[@]}"
mapfile -t FIRST < <(failed_files "$OUT/run1")

FINAL=()
if [ ${#FIRST[@]} -gt 0 ]; then
    for f in "${FIRST[@]}"; do
        name=${f//\//_}
        echo "redis-suite: $f failed on the first run; these reference tests did not pass:"
        sed 's/^/    /' "$OUT/run1/results/$name.missing" 2>/dev/null
        grep -h '^<' "$OUT/run1/results/$name.failed" 2>/dev/null | sed 's/^/    /'
    done
    echo "redis-suite: running those ${#FIRST[@]} file(s) again, one at a time"
    TCL_JOBS=1 TCL_OUT="$OUT/run2" "$SUITE/run.sh" "$BIN" "${FIRST[@]}"
    saved=("${FILES[@]}"); FILES=("${FIRST[@]}")
    mapfile -t FINAL < <(failed_files "$OUT/run2")
    FILES=("${saved[@]}")
fi

if [ ${#FINAL[@]} -gt 0 ]; then
    for f in "${FINAL[@]}"; do
        name=${f//\//_}
        echo "redis-suite: FAILED $f (twice); reference tests not passing:"
        sed 's/^/    /' "$OUT/run2/results/$name.missing" 2>/dev/null
        grep -h '^<' "$OUT/run2/results/$name.failed" 2>/dev/null | sed 's/^/    /'
        echo "    log: $OUT/run2/logs/$name.log"
    done
    echo "redis-suite: $(( ${#FILES[@]} - ${#FINAL[@]} )) passed, ${#FINAL[@]} failed"
    exit 1
fi
[ ${#FIRST[@]} -gt 0 ] && echo "redis-suite: ${#FIRST[@]} file(s) passed only on a second run: ${FIRST[*]}"
echo "redis-suite: ${#FILES[@]} passed, 0 failed"
