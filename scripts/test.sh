#!/usr/bin/env bash
# Every test: the cargo tests (unit, differential against redis-server, integration through
# the real binaries), then the files of Redis's own Tcl suite listed in tests/redis-suite.list,
# then Redis's Sentinel suite with tandem-server data nodes and redis-sentinel (about 2 min).
# The same suite with Tandem's own sentinel as the sentinels (`scripts/sentinel-suite.sh
# target/release/tandem-server target/release/tandem-server`, about 2 min) is out of CI for now:
# since ACL landed, its unit 03 ("Sentinels (re)connection following master ACL change") fails
# before its cleanup, leaving the data nodes' default user off, and every later unit fails at
# setup (issue #13). tests/sentinel.rs still runs Tandem's sentinels (failover under WAIT 1,
# mixed quorum, replies compared with redis-sentinel's).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --all-targets -- --test-threads=2
cargo build --release --bin tandem-server
scripts/redis-suite.sh target/release/tandem-server tests/redis-suite.list
scripts/sentinel-suite.sh target/release/tandem-server
