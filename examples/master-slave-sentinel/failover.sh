#!/usr/bin/env bash
# The kill-the-master demo, on what run.sh started in RUN_DIR: writes keys that both replicas
# acknowledged (WAIT 2), kills the master with SIGKILL, and shows the sentinels promote a
# replica and repoint the other one to it; then restarts the old master, which the sentinels
# turn into a replica of the new one, and reads every acknowledged key back from the new
# master. Run it again to fail over again.
#
#   examples/master-slave-sentinel/failover.sh [RUN_DIR]
#
# Same TANDEM_PORT_BASE, TANDEM_SENTINEL_PORT_BASE and TANDEM_BIN_DIR as run.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_dir=${1:-$root/run/master-slave-sentinel}
. "$root/examples/common.sh"
run_dir=$(cd "$run_dir" && pwd)
cd "$run_dir"
ports=("$base" "$((base + 1))" "$((base + 2))")
keys=1000

# The master's port as the first sentinel names it.
master_port() { cli_cmd "$sbase" SENTINEL GET-MASTER-ADDR-BY-NAME mymaster | sed -n 2p; }
follows() { # replica port, master port
  local info
  info=$(cli_cmd "$1" INFO replication)
  grep -q "^master_port:$2\b" <<<"$info" && grep -q '^master_link_status:up' <<<"$info"
}
now_ms() { date +%s%3N; }

old=$(master_port)
echo "=== the master is 127.0.0.1:$old; writing $keys keys, acknowledged by both replicas (WAIT 2)"
acked=$({ for i in $(seq 1 "$keys"); do echo "SET demo:$i $i"; done; echo "WAIT 2 5000"; } \
  | cli_cmd "$old" | tail -n 1)
[ "$acked" = 2 ] || { echo "WAIT 2 answered $acked" >&2; exit 1; }

echo "=== kill -9 the master (pid $(cat "$old.pid"))"
kill -9 "$(cat "$old.pid")"
killed=$(now_ms)
promoted() { [ "$(master_port)" != "$old" ]; }
wait_for 60 promoted
new=$(master_port)
echo "=== the sentinels promoted 127.0.0.1:$new $(( $(now_ms) - killed )) ms after the kill"
"$cli" -p "$sbase" SENTINEL MASTER mymaster | paste - - | grep -E '^(ip|port|flags|config-epoch)\b' | tr '\t' ' '
for p in "${ports[@]}"; do
  [ "$p" = "$old" ] || [ "$p" = "$new" ] || { wait_for 60 follows "$p" "$new"; echo "=== 127.0.0.1:$p follows the new master"; }
done
echo "=== $cli -p $sbase --topology"
"$cli" -p "$sbase" --topology

echo "=== restart the old master; the sentinels make it a replica of 127.0.0.1:$new"
"$server" "$old.conf"
wait_for 90 follows "$old" "$new"
present=$(cli_cmd "$new" EVAL "local n = 0 for i = 1, $keys do n = n + redis.call('EXISTS', 'demo:' .. i) end return n" 0)
echo "=== acknowledged keys on the new master: $present of $keys"
[ "$present" = "$keys" ] || exit 1
echo "=== $cli -p $old --topology"
"$cli" -p "$old" --topology
