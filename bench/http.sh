#!/usr/bin/env bash
# bench/http.sh [UKBENCH]: ukbench's HTTP generator against wrk (keep-alive)
# and httperf (a new connection per request), and `ukbench serve http`
# against lighttpd, on loopback. Prints Markdown for BENCHMARKS.md. Needs
# lighttpd, wrk, httperf (make deps-bench).
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
lt_pid=${server_pids[-1]} # taskset execs lighttpd: same process
for i in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$lt_port/" && break
  [ "$i" = 100 ] && { echo "lighttpd did not answer" >&2; cat "$work/lighttpd.err" >&2; exit 1; }
  sleep 0.1
done
start_server "ukbench serve: ready" "$work/serve.log" taskset -c "$SERVER_CPU" "$bin" serve http --listen 127.0.0.1:0
uk_port=$(awk '/ukbench serve: ready/ {print $5; exit}' "$work/serve.log"); uk_port=${uk_port##*:}
uk_pid=${server_pids[-1]}

machine
echo
# wrk_rps PORT SERVER_PID: wrk's requests/s; writes the server's CPU time
# during the run (seconds) to $work/srvcpu and its share of the run
# (percent) to $work/busy.
wrk_rps() {
  local c0 c1
  c0=$(proc_cpu "$2")
  cpu_of wrk -t1 -c32 -d"${STEP}s" "http://127.0.0.1:$1/" >"$work/wrk.out" 2>&1
  c1=$(proc_cpu "$2")
  python3 -c "print(f'{$c1 - $c0:.2f}')" >"$work/srvcpu"
  python3 -c "print(f'{($c1 - $c0) / $STEP * 100:.0f}')" >"$work/busy"
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
echo "| round | server | wrk -t1 -c32 (closed loop), requests/s | server CPU busy under wrk | ukbench --find-max keep-alive, 32 connections, max sustainable offered/s | ratio |"
echo "|---|---|---|---|---|---|"
: >"$work/ratios"
for r in $(seq 1 "$ROUNDS"); do
  for s in lighttpd:$lt_port ukbench:$uk_port; do
    name=${s%%:*} port=${s##*:} pid=$lt_pid
    [ "$name" = ukbench ] && pid=$uk_pid
    w=$(wrk_rps "$port" "$pid")
    if [ "$name" = lighttpd ] && [ "$r" = 1 ]; then
      wrk_cpu=$(cpu_total) wrk_n=$(awk '/requests in/ {print $1}' "$work/wrk.out") wrk_w=$w
      wrk_srv=$(python3 -c "print(f'{$(cat "$work/srvcpu") / $wrk_n * 1e6:.2f}')")
    fi
    u=$(uk_max "$port" "$w")
    ratio=$(python3 -c "print(f'{$u/$w:.2f}')")
    echo "$name $ratio $w $u" >>"$work/ratios"
    echo "| $r | $name | $w | $(cat "$work/busy") % | $u | $ratio |"
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
# The server's CPU per request shows what open-loop arrivals cost it next
# to wrk's closed loop, which keeps it saturated (lighttpd cost 1.2-1.6x
# more per request at 0.75x wrk's rate: BENCHMARKS.md).
echo "| generator against lighttpd | requests | generator user+sys s | generator µs CPU per request | lighttpd µs CPU per request |"
echo "|---|---|---|---|---|"
echo "| wrk -t1 -c32 (closed loop, as fast as it can) | $wrk_n | $wrk_cpu | $(python3 -c "print(f'{$wrk_cpu/$wrk_n*1e6:.2f}')") | $wrk_srv |"
: >"$work/fixed.out"
for rate in "$FIXED_RATE" $((wrk_w * 3 / 4)); do
  c0=$(proc_cpu "$lt_pid")
  cpu_of "$bin" load http --url "http://127.0.0.1:$lt_port/" --quiet --connections 32 --rates "$rate" --step "${STEP}s" --warmup 0s --out "$work/fixed.json" >>"$work/fixed.out" 2>&1
  c1=$(proc_cpu "$lt_pid")
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"][0]["answered"])' "$work/fixed.json")
  c=$(cpu_total)
  echo "| ukbench load http --rates $rate (open loop) | $n | $c | $(python3 -c "print(f'{$c/$n*1e6:.2f}')") | $(python3 -c "print(f'{($c1 - $c0)/$n*1e6:.2f}')") |"
done
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
# A new connection per request: the Utah study's method, with httperf
# (open loop, like ukbench) at the same rates. httperf can hang (with --hog
# it ran out of ports at 5,000/s), so each run is bounded. Its CPU time is
# not compared: it polls, using a full core at any rate.
echo "new connection per request against lighttpd: httperf (open loop) vs ukbench --new-connection --connections 64"
echo
echo "| offered/s | httperf replies/s (replies / test duration) | httperf errors | httperf median connection ms | ukbench answered/s | ukbench p50 ms | ukbench late % | ukbench valid |"
echo "|---|---|---|---|---|---|---|---|"
: >"$work/newconn.out"
for rate in ${NEWCONN_RATES:-2000 5000 8000 11000}; do
  hp="- | - | did not finish in $((STEP * 3)) s"
  if timeout -s KILL $((STEP * 3)) taskset -c "$GEN_CPU" httperf --server 127.0.0.1 --port "$lt_port" --uri / --rate "$rate" \
    --num-conns $((rate * STEP)) --num-calls 1 --timeout 2 >"$work/httperf.out" 2>&1; then
    hp=$(awk '/^Total: / {r=sprintf("%.1f", $7 / $9)} /^Errors: total/ {e=$3} /^Connection time \[ms\]: min/ {m=$11} END {printf "%s | %s | %s", r, e, m}' "$work/httperf.out")
  fi
  taskset -c "$GEN_CPU" "$bin" load http --url "http://127.0.0.1:$lt_port/" --quiet --connections 64 --new-connection --expect-body-size 612 \
    --rates "$rate" --step "${STEP}s" --warmup 1s --out "$work/newconn.json" >>"$work/newconn.out" 2>&1 || true
  uk=$(python3 - "$work/newconn.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["steps"][0]
late = 100 * s["lag"]["late_sends"] / max(s["sent"], 1)
print(f'{s["answered"] / s["duration_s"]:.0f} | {s["latency_us"]["p50"] / 1000:.3f} | {late:.2f} | {"yes" if s["valid"] else "no"}')
PY
)
  echo "| $rate | $hp | $uk |"
done
echo
echo '```'
cat "$work/newconn.out"
echo '```'
