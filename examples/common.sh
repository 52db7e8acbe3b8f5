# Shared by the examples' scripts, which source it after setting $root (the project
# directory): the first port of the nodes ($base, TANDEM_PORT_BASE) and of the sentinels
# ($sbase, TANDEM_SENTINEL_PORT_BASE), the binaries ($server, $cli; built with cargo unless
# TANDEM_BIN_DIR names a directory holding them, which is then exported for the scripts these
# ones run), a client, waiting for a condition, and checking that ports are free.

base=${TANDEM_PORT_BASE:-6379}
sbase=${TANDEM_SENTINEL_PORT_BASE:-26379}

if [ -z "${TANDEM_BIN_DIR:-}" ]; then
  cargo build --release --bins --manifest-path "$root/Cargo.toml"
  TANDEM_BIN_DIR=$root/target/release
fi
export TANDEM_BIN_DIR
server=$TANDEM_BIN_DIR/tandem-server
cli=$TANDEM_BIN_DIR/tandem-cli

# A client: tandem-cli, or redis-cli if tandem-cli cannot answer yet.
cli_cmd() {
  local port=$1; shift
  if "$cli" -p "$port" PING >/dev/null 2>&1; then "$cli" -p "$port" "$@"; else redis-cli -p "$port" "$@"; fi
}

wait_for() { # seconds, command...
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $*" >&2
  return 1
}

# Fails when one of the ports already answers (another redis-server?).
check_free() { # variable to suggest, ports...
  local var=$1; shift
  for p in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p is already in use (another redis-server?); pick other ports with $var=<port> $0" >&2
      exit 1
    fi
  done
}

# One field of `SENTINEL MASTER mymaster` as the sentinel on port $1 sees it.
sentinel_field() { # port, field
  cli_cmd "$1" SENTINEL MASTER mymaster | awk -v f="$2" 'NR % 2 == 1 && $0 == f { getline; print; exit }'
}
