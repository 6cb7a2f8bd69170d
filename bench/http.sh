#!/usr/bin/env bash
# bench/http.sh [UKBENCH]: ukbench's HTTP generator against wrk, and
# `ukbench serve http` against lighttpd, on loopback. Prints Markdown for
# BENCHMARKS.md. Needs lighttpd, wrk (make deps-bench).
set -euo pipefail
bin=$(realpath "${1:-bin/ukbench}")
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT
STEP=${STEP:-10}
FIXED_RATE=${FIXED_RATE:-10000}

mkdir -p "$work/www"
"$bin" serve http --print-page >"$work/www/index.html"
lt_port=$(free_port)
cat >"$work/lighttpd.conf" <<CONF
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $lt_port
server.max-worker = 0
server.max-connections = 4096
server.max-keep-alive-requests = 1000000
server.errorlog = "$work/lighttpd.err"
index-file.names = ( "index.html" )
CONF
start_bg "$work/lighttpd.out" taskset -c "$SERVER_CPU" lighttpd -D -f "$work/lighttpd.conf"
for i in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$lt_port/" && break
  [ "$i" = 100 ] && { echo "lighttpd did not answer" >&2; cat "$work/lighttpd.err" >&2; exit 1; }
  sleep 0.1
done
start_server "ukbench serve: ready" "$work/serve.log" taskset -c "$SERVER_CPU" "$bin" serve http --listen 127.0.0.1:0
uk_port=$(awk '/ukbench serve: ready/ {print $5; exit}' "$work/serve.log"); uk_port=${uk_port##*:}

machine
echo
wrk_rps() { # port
  cpu_of wrk -t1 -c32 -d"${STEP}s" "http://127.0.0.1:$1/" >"$work/wrk.out" 2>&1
  awk '/Requests\/sec/ {printf "%d", $2}' "$work/wrk.out"
}
# uk_max PORT AROUND: ukbench's highest valid, sustainable keep-alive rate on
# 32 connections, searched from 0.75x to 1.5x AROUND in 5 % steps, then
# bisected. AROUND is only where the search starts; the answer is ukbench's.
uk_max() {
  local port=$1 lo hi
  lo=$(($2 * 3 / 4)) hi=$(($2 * 3 / 2))
  # shellcheck disable=SC2086 # UK_FLAGS is a list of flags
  cpu_of "$bin" load http --url "http://127.0.0.1:$port/" --quiet --connections 32 --expect-body-size 612 \
    --rates "$lo:${hi}x1.05" --find-max --bisect 3 --step "${STEP}s" --warmup 1s --slo-p99 0 $UK_FLAGS --out "$work/max.json" >"$work/ukmax.out" 2>&1 || true
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["max_sustainable_rps"] or 0))' "$work/max.json"
  cat "$work/ukmax.out" >>"$work/find-max.log"
}
# Paired rounds: this machine's throughput drifts by tens of percent within
# minutes, so each ukbench search runs right after the wrk run it is
# compared with, and the ratio is summarised as the median over rounds.
ROUNDS=${ROUNDS:-3}
# UK_FLAGS: more flags for ukbench's search, e.g. "--late-after 5ms" on a
# machine whose scheduling hiccups last several milliseconds.
UK_FLAGS=${UK_FLAGS:-}
[ -n "$UK_FLAGS" ] && echo "ukbench search flags: $UK_FLAGS" && echo
echo "| round | server | wrk -t1 -c32 (closed loop), requests/s | ukbench --find-max keep-alive, 32 connections, max sustainable offered/s | ratio |"
echo "|---|---|---|---|---|"
: >"$work/ratios"
for r in $(seq 1 "$ROUNDS"); do
  for s in lighttpd:$lt_port ukbench:$uk_port; do
    name=${s%%:*} port=${s##*:}
    w=$(wrk_rps "$port")
    if [ "$name" = lighttpd ] && [ "$r" = 1 ]; then wrk_cpu=$(cpu_total); wrk_n=$(awk '/requests in/ {print $1}' "$work/wrk.out"); fi
    u=$(uk_max "$port" "$w")
    ratio=$(python3 -c "print(f'{$u/$w:.2f}')")
    echo "$name $ratio $w $u" >>"$work/ratios"
    echo "| $r | $name | $w | $u | $ratio |"
  done
done
echo
python3 - "$work/ratios" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for name in ("lighttpd", "ukbench"):
    r = sorted(float(x[1]) for x in rows if x[0] == name)
    w = sum(int(x[2]) for x in rows if x[0] == name)
    u = sum(int(x[3]) for x in rows if x[0] == name)
    print(f"{name}: median ratio {statistics.median(r):.2f} over {len(r)} rounds (range {r[0]:.2f}-{r[-1]:.2f}), pooled {u/w:.2f}")
PY
echo
echo "| generator against lighttpd | requests | user+sys s | µs CPU per request |"
echo "|---|---|---|---|"
echo "| wrk -t1 -c32 (closed loop, as fast as it can) | $wrk_n | $wrk_cpu | $(python3 -c "print(f'{$wrk_cpu/$wrk_n*1e6:.2f}')") |"
cpu_of "$bin" load http --url "http://127.0.0.1:$lt_port/" --quiet --connections 32 --rates "$FIXED_RATE" --step "${STEP}s" --warmup 0s --out "$work/fixed.json" >"$work/fixed.out" 2>&1
n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"][0]["answered"])' "$work/fixed.json")
c=$(cpu_total)
echo "| ukbench load http --rates $FIXED_RATE (open loop) | $n | $c | $(python3 -c "print(f'{$c/$n*1e6:.2f}')") |"
echo
echo '```'
cat "$work/fixed.out"
echo '```'
echo
echo "find-max runs (lighttpd, then ukbench serve http):"
echo '```'
cat "$work/find-max.log"
echo '```'
echo
echo "new connection per request (httperf style), 64 connections:"
echo '```'
"$bin" load http --url "http://127.0.0.1:$lt_port/" --quiet --connections 64 --new-connection --rates 1000,2000,5000 --step "${STEP}s" --warmup 1s 2>&1
echo '```'
