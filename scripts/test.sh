#!/usr/bin/env bash
# Every test: the cargo tests (unit, differential against redis-server, integration through
# the real binaries), then the files of Redis's own Tcl suite listed in tests/redis-suite.list,
# then Redis's Sentinel suite with tandem-server data nodes and redis-sentinel (about 2 min), and
# again with Tandem's own sentinel as the sentinels (about 2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --all-targets -- --test-threads=2
cargo build --release --bin tandem-server
scripts/redis-suite.sh target/release/tandem-server tests/redis-suite.list
scripts/sentinel-suite.sh target/release/tandem-server
scripts/sentinel-suite.sh target/release/tandem-server target/release/tandem-server
