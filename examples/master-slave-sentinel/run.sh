#!/usr/bin/env bash
# Builds Tandem and starts, as daemons in RUN_DIR (default: <project>/run/master-slave-sentinel),
# the master (6379.conf) and its two replicas (6380.conf, 6381.conf) with
# ../master-slave/run.sh, then three Tandem sentinels watching them (26379.conf, 26380.conf,
# 26381.conf, each run as `tandem-server <conf> --sentinel`). Checks that every sentinel found
# both replicas and the two other sentinels and that the quorum can authorize a failover
# (SENTINEL CKQUORUM), then prints `tandem-cli --topology`.
#
#   examples/master-slave-sentinel/run.sh [RUN_DIR]
#   examples/master-slave-sentinel/failover.sh [RUN_DIR]   # the kill-the-master demo
#   examples/master-slave-sentinel/stop.sh [RUN_DIR]
#
# TANDEM_PORT_BASE=7379 moves the nodes to 7379/7380/7381, TANDEM_SENTINEL_PORT_BASE=27379
# the sentinels to 27379/27380/27381 (when the default ports are taken).
# TANDEM_BIN_DIR=<dir> uses binaries already built there instead of running cargo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${1:-$root/run/master-slave-sentinel}
. "$root/examples/common.sh"

sports=("$sbase" "$((sbase + 1))" "$((sbase + 2))")
check_free TANDEM_SENTINEL_PORT_BASE "${sports[@]}"
TANDEM_CONF_DIR=$here "$root/examples/master-slave/run.sh" "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
cd "$run_dir"
# The ports in the sentinels' files: theirs (through placeholders, so that a new base
# overlapping the old ports is not replaced twice) and the master's.
subst=()
for j in 0 1 2; do subst+=(-e "s/\b$((26379 + j))\b/@sentinel$j@/g"); done
subst+=(-e "s/\b6379\b/$base/g")
for j in 0 1 2; do subst+=(-e "s/@sentinel$j@/${sports[$j]}/g"); done
for i in 0 1 2; do
  sed "${subst[@]}" "$here/$((26379 + i)).conf" > "${sports[$i]}.conf"
  "$server" "${sports[$i]}.conf" --sentinel
done

# Every sentinel knows the two replicas (from the master's INFO) and the two other
# sentinels (from their hello messages, every 2 s).
discovered() {
  [ "$(sentinel_field "$1" num-slaves)" = 2 ] && [ "$(sentinel_field "$1" num-other-sentinels)" = 2 ]
}
for p in "${sports[@]}"; do
  wait_for 10 cli_cmd "$p" PING
  wait_for 30 discovered "$p"
done
for p in "${sports[@]}"; do
  echo "=== sentinel 127.0.0.1:$p ($run_dir/$p.log): $(cli_cmd "$p" SENTINEL CKQUORUM mymaster)"
done
echo "=== $cli -p ${sports[0]} --topology"
"$cli" -p "${sports[0]}" --topology
echo "Kill the master and watch a replica take over: $here/failover.sh $run_dir"
echo "Stop them all with: $here/stop.sh $run_dir"
