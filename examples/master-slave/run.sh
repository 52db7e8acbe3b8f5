#!/usr/bin/env bash
# Builds Tandem, starts the master (6379.conf) and its two replicas (6380.conf, 6381.conf) as
# daemons in RUN_DIR (default: <project>/run/master-slave), writes a few keys on the master and
# prints `info replication` of each node. Stop them with stop.sh and the same RUN_DIR.
#
#   examples/master-slave/run.sh [RUN_DIR]
#
# TANDEM_PORT_BASE=7379 moves the three ports to 7379/7380/7381 (when 6379 is taken).
# TANDEM_BIN_DIR=<dir> uses binaries already built there instead of running cargo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${1:-$root/run/master-slave}
base=${TANDEM_PORT_BASE:-6379}

if [ -z "${TANDEM_BIN_DIR:-}" ]; then
  cargo build --release --bins --manifest-path "$root/Cargo.toml"
  bin_dir=$root/target/release
else
  bin_dir=$TANDEM_BIN_DIR
fi
server=$bin_dir/tandem-server
cli=$bin_dir/tandem-cli

mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
ports=("$base" "$((base + 1))" "$((base + 2))")
cp "$here/redis.conf" "$run_dir/redis.conf"
sed -e "s/6379/${ports[0]}/g" "$here/6379.conf" > "$run_dir/${ports[0]}.conf"
for i in 1 2; do
  orig=$((6379 + i))
  sed -e "s/6379/${ports[0]}/g" -e "s/$orig/${ports[$i]}/g" "$here/$orig.conf" > "$run_dir/${ports[$i]}.conf"
done

# A client: tandem-cli, or redis-cli if tandem-cli cannot answer yet.
cli_cmd() {
  local port=$1; shift
  if "$cli" -p "$port" PING >/dev/null 2>&1; then "$cli" -p "$port" "$@"; else redis-cli -p "$port" "$@"; fi
}

for p in "${ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is already in use (another redis-server?); pick other ports with TANDEM_PORT_BASE=7379 $0" >&2
    exit 1
  fi
done

cd "$run_dir"
for p in "${ports[@]}"; do
  "$server" "$p.conf"
done

wait_for() { # seconds, command...
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $*" >&2
  return 1
}
for p in "${ports[@]}"; do
  wait_for 10 cli_cmd "$p" PING
done
link_up() { cli_cmd "$1" INFO replication | grep -q 'master_link_status:up'; }
wait_for 30 link_up "${ports[1]}"
wait_for 30 link_up "${ports[2]}"

# One connection, so WAIT waits for these writes to reach both replicas.
printf '%s\n' 'SET greeting "hello from the master"' 'INCR visits' 'RPUSH recent a b c' 'WAIT 2 2000' \
  | cli_cmd "${ports[0]}" >/dev/null

for p in "${ports[@]}"; do
  echo "=== 127.0.0.1:$p ($run_dir/$p.log)"
  cli_cmd "$p" INFO replication
done
echo "=== on the replicas: greeting = $(cli_cmd "${ports[1]}" GET greeting) / $(cli_cmd "${ports[2]}" GET greeting)"
echo "Stop them with: $here/stop.sh $run_dir"
