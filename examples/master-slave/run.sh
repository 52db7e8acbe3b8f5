#!/usr/bin/env bash
# Builds Tandem, starts the master (6379.conf) and its two replicas (6380.conf, 6381.conf) as
# daemons in RUN_DIR (default: <project>/run/master-slave), writes a few keys on the master and
# prints `info replication` of each node. Stop them with stop.sh and the same RUN_DIR.
#
#   examples/master-slave/run.sh [RUN_DIR]
#
# TANDEM_PORT_BASE=7379 moves the three ports to 7379/7380/7381 (when 6379 is taken).
# TANDEM_BIN_DIR=<dir> uses binaries already built there instead of running cargo.
# TANDEM_CONF_DIR=<dir> takes 6379.conf, 6380.conf, 6381.conf and redis.conf from there
# (examples/master-slave-sentinel starts its nodes this way).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${1:-$root/run/master-slave}
conf_dir=${TANDEM_CONF_DIR:-$here}
. "$root/examples/common.sh"

mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
ports=("$base" "$((base + 1))" "$((base + 2))")
cp "$conf_dir/redis.conf" "$run_dir/redis.conf"
sed -e "s/6379/${ports[0]}/g" "$conf_dir/6379.conf" > "$run_dir/${ports[0]}.conf"
for i in 1 2; do
  orig=$((6379 + i))
  sed -e "s/6379/${ports[0]}/g" -e "s/$orig/${ports[$i]}/g" "$conf_dir/$orig.conf" > "$run_dir/${ports[$i]}.conf"
done

check_free TANDEM_PORT_BASE "${ports[@]}"

cd "$run_dir"
for p in "${ports[@]}"; do
  "$server" "$p.conf"
done

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
