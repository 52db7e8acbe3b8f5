#!/usr/bin/env bash
# scripts/redis-suite-table.sh RUN_DIR [BASELINE_DIR]
#
# Turns one run of ../shared/redis-suite/run.sh (its TCL_OUT folder) into
# tests/redis-suite-results.tsv, from which the compatibility test renders COMPATIBILITY.md's
# table of Redis's own suite: per file, how many of the tests that pass on redis-server
# 7.0.15 (the baseline) passed on tandem-server. Then regenerate COMPATIBILITY.md with
#   TANDEM_REGEN_COMPAT=1 cargo test --release --test compatibility
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: scripts/redis-suite-table.sh RUN_DIR [BASELINE_DIR]}
BASE=${2:-../shared/redis-suite/baseline}
OUT=tests/redis-suite-results.tsv
{
    printf '# file\ttandem\tredis\tnote\n'
    printf '# from %s, tandem-server at %s, %s\n' "$(basename "$RUN")" \
        "$(git rev-parse --short HEAD)" "$(date -u +%Y-%m-%d)"
    for summary in "$RUN"/results/*.summary; do
        IFS=$'\t' read -r file _np _nf _skip _secs _rc note < "$summary"
        name=${file//\//_}
        [ -f "$BASE/$name.passed" ] || continue
        reference=$(wc -l < "$BASE/$name.passed")
        missing=$(wc -l < "$RUN/results/$name.missing" 2>/dev/null || echo "$reference")
        note=$(printf '%s' "$note" | sed -E 's/;? ?[0-9]+ of [0-9]+ reference passes not passed//; s/^; //')
        printf '%s\t%s\t%s\t%s\n' "$file" "$((reference - missing))" "$reference" "$note"
    done | LC_ALL=C sort
} > "$OUT"
echo "wrote $OUT ($(grep -vc '^#' "$OUT") files)"
