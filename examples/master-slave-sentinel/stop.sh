#!/usr/bin/env bash
# Stops the nodes and the sentinels that run.sh started in RUN_DIR, by the PIDs in their
# pidfiles (with ../master-slave/stop.sh).
#   examples/master-slave-sentinel/stop.sh [RUN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
exec "$root/examples/master-slave/stop.sh" "${1:-$root/run/master-slave-sentinel}"
