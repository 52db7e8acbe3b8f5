#!/usr/bin/env bash
# Every test: the cargo tests (unit, differential against redis-server, integration through
# the real binaries), then the files of Redis's own Tcl suite listed in tests/redis-suite.list,
# then again over TLS (tests/redis-suite-tls.list, all but one of them, ~15 minutes), then
# Redis's Sentinel suite with tandem-server data nodes and redis-sentinel (about 2 min), and
# again with Tandem's own sentinel as the sentinels (about 2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
# Every test binary runs; one that fails is run once more on its own (a timing test can lose
# to a loaded machine), and the run fails if it fails again. The first failure stays printed.
cargo_log=$(mktemp "${TMPDIR:-/tmp}/tandem-cargo-test.XXXXXX")
if ! cargo test --release --all-targets --no-fail-fast -- --test-threads=2 2>&1 | tee "$cargo_log"; then
  failed=$(grep -o 'to rerun pass `[^`]*`' "$cargo_log" | sed 's/.*`\(.*\)`/\1/' | sort -u)
  if [ -z "$failed" ]; then
    echo "cargo test failed before running the tests" >&2
    exit 1
  fi
  while IFS= read -r target; do
    echo "=== cargo test: $target failed; running it once more ===" >&2
    # shellcheck disable=SC2086
    cargo test --release $target -- --test-threads=2
  done <<< "$failed"
fi
rm -f "$cargo_log"
cargo build --release --bin tandem-server
scripts/redis-suite.sh target/release/tandem-server tests/redis-suite.list
# Some of those files again over TLS, with certificates made by the suite's own script.
suite=$(readlink -f "${REDIS_SUITE:-../shared/redis-suite}")
tls_certs=$(mktemp -d "${TMPDIR:-/tmp}/tandem-tls.XXXXXX")
(cd "$tls_certs" && bash "$suite/utils/gen-test-certs.sh" >/dev/null)
TCL_EXTRA_ARGS=--tls TCL_TLS_DIR="$tls_certs/tests/tls" \
    scripts/redis-suite.sh target/release/tandem-server tests/redis-suite-tls.list
rm -rf "$tls_certs"
scripts/sentinel-suite.sh target/release/tandem-server
scripts/sentinel-suite.sh target/release/tandem-server target/release/tandem-server
