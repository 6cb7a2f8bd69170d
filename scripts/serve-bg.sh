# serve-bg.sh — sourced by scripts: start_server CMD... starts a server in
# the background, waits for its readiness line (bounded), and sets
# SERVER_ADDR. Servers started this way are killed on exit.
server_pids=()
stop_servers() {
  local p
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  server_pids=()
}
trap stop_servers EXIT
trap 'stop_servers; exit 130' INT TERM

# start_server PATTERN LOG CMD...: runs CMD, waits up to 10 s for a line of
# LOG matching PATTERN.
start_server() {
  local pattern=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  server_pids+=($!)
  local pid=$! i
  for i in $(seq 1 200); do
    if grep -q -- "$pattern" "$log"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "server exited: $*" >&2; cat "$log" >&2; return 1; fi
    sleep 0.05
  done
  echo "no readiness line ($pattern) from: $*" >&2; cat "$log" >&2; return 1
}

# start_bg LOG CMD...: runs CMD in the background, killed on exit; the
# caller checks readiness itself.
start_bg() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  server_pids+=($!)
}
