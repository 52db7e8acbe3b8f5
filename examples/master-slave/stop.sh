#!/usr/bin/env bash
# Stops the nodes that run.sh started in RUN_DIR, by the PIDs in their pidfiles.
#   examples/master-slave/stop.sh [RUN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${1:-$root/run/master-slave}
for pidfile in "$run_dir"/*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
  fi
done
