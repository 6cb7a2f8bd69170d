#!/usr/bin/env bash
# bench/dns.sh [UKBENCH]: ukbench's DNS generator against dnsperf, and
# `ukbench serve dns` against NSD, on loopback. Prints Markdown for
# BENCHMARKS.md. Needs nsd, dnsperf (make deps-bench).
set -euo pipefail
bin=$(realpath "${1:-bin/ukbench}")
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT

STEP=${STEP:-10}
FIXED_RATE=${FIXED_RATE:-40000}

# NSD with the same zone ukbench serves, rate limiting off.
"$bin" serve dns --print-zone >"$work/example.com.zone"
printf 'www.example.com A\nmail.example.com A\nns1.example.com A\nexample.com A\n' >"$work/queries.txt"
nsd_port=$(free_port)
cat >"$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$nsd_port
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$work"
  zonelistfile: "$work/zone.list"
  database: ""
  xfrdfile: "$work/xfrd.state"
  pidfile: "$work/nsd.pid"
  logfile: "$work/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
CONF
start_bg "$work/nsd.out" taskset -c "$SERVER_CPU" nsd -d -c "$work/nsd.conf"
# NSD prints nothing when ready: wait for a real answer (bounded).
for i in $(seq 1 100); do
  dig +short +time=1 +tries=1 -p "$nsd_port" @127.0.0.1 www.example.com A 2>/dev/null | grep -q 192.0.2.10 && break
  [ "$i" = 100 ] && { echo "NSD did not answer" >&2; cat "$work/nsd.log" >&2; exit 1; }
  sleep 0.1
done

start_server "ukbench serve: ready" "$work/serve.log" taskset -c "$SERVER_CPU" "$bin" serve dns --listen 127.0.0.1:0 --sockets 1
uk_addr=$(awk '/ukbench serve: ready/ {print $5; exit}' "$work/serve.log")
uk_port=${uk_addr##*:}

machine
echo

# (a) closed-loop maximum (dnsperf, 200 outstanding) vs open-loop maximum
dnsperf_max() { # port
  cpu_of dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$STEP" -q 200 >"$work/dnsperf.out" 2>&1
  awk '/Queries per second/ {print $4}' "$work/dnsperf.out"
}
ukbench_max() { # port
  cpu_of "$bin" load dns --server "127.0.0.1:$1" --quiet --rates 10000:400000x1.25 --find-max --bisect 4 \
    --step "${STEP}s" --warmup 2s --slo-p99 0 --out "$work/max.json" >"$work/ukmax.out" 2>&1 || true
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_sustainable_rps"])' "$work/max.json"
  cat "$work/ukmax.out" >>"$work/find-max.log"
}
echo "| server | dnsperf -q 200 (closed loop), answers/s | ukbench --find-max, max sustainable offered/s | ratio |"
echo "|---|---|---|---|"
for s in nsd:$nsd_port ukbench:$uk_port; do
  name=${s%%:*} port=${s##*:}
  dp=$(dnsperf_max "$port")
  uk=$(ukbench_max "$port")
  echo "| $name | $dp | $uk | $(python3 -c "print(f'{$uk/$dp:.2f}')") |"
done
echo

# (b) generator CPU per query at a fixed rate both hold
echo "| generator at $FIXED_RATE/s for ${STEP}s against NSD | answered | user+sys s | µs CPU per query |"
echo "|---|---|---|---|"
cpu_of dnsperf -s 127.0.0.1 -p "$nsd_port" -d "$work/queries.txt" -l "$STEP" -q 1000 -Q "$FIXED_RATE" >"$work/dnsperf-fixed.out" 2>&1
dp_n=$(awk '/Queries completed/ {print $3}' "$work/dnsperf-fixed.out")
dp_cpu=$(cpu_total)
echo "| dnsperf -Q $FIXED_RATE | $dp_n | $dp_cpu | $(python3 -c "print(f'{$dp_cpu/$dp_n*1e6:.2f}')") |"
cpu_of "$bin" load dns --server "127.0.0.1:$nsd_port" --quiet --rates "$FIXED_RATE" --step "${STEP}s" --warmup 0s --out "$work/fixed.json" >"$work/uk-fixed.out" 2>&1
uk_n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"][0]["answered"])' "$work/fixed.json")
uk_cpu=$(cpu_total)
echo "| ukbench load dns --rates $FIXED_RATE | $uk_n | $uk_cpu | $(python3 -c "print(f'{$uk_cpu/$uk_n*1e6:.2f}')") |"
echo
echo "ukbench/dnsperf CPU per query: $(python3 -c "print(f'{($uk_cpu/$uk_n)/($dp_cpu/$dp_n):.2f}')")"
echo

# (c) DNS over TCP against NSD: dnsperf's closed-loop maximum over 2
# connections vs ukbench's open-loop maximum over 2 pipelined connections.
# Over TCP an overloaded server queues queries in its socket buffers rather
# than dropping them, so overload shows as latency (seconds), not loss: the
# search needs a latency objective, here p99 ≤ 100 ms (ukbench's default).
cpu_of dnsperf -m tcp -c 2 -s 127.0.0.1 -p "$nsd_port" -d "$work/queries.txt" -l "$STEP" -q 200 >"$work/dnsperf-tcp.out" 2>&1
dp_tcp=$(awk '/Queries per second/ {print $4}' "$work/dnsperf-tcp.out")
cpu_of "$bin" load dns --server "127.0.0.1:$nsd_port" --transport tcp --sockets 2 --quiet --rates 5000:400000x1.25 --find-max --bisect 4 \
  --step "${STEP}s" --warmup 2s --slo-p99 100ms --out "$work/max-tcp.json" >"$work/ukmax-tcp.out" 2>&1 || true
uk_tcp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_sustainable_rps"] or 0)' "$work/max-tcp.json")
echo "| DNS over TCP, NSD | dnsperf -m tcp -c 2 -q 200 (closed loop), answers/s | ukbench --transport tcp --sockets 2 --find-max --slo-p99 100ms, max sustainable offered/s | ratio |"
echo "|---|---|---|---|"
echo "| nsd | $dp_tcp | $uk_tcp | $(python3 -c "print(f'{$uk_tcp/$dp_tcp:.2f}')") |"
echo
echo '```'
cat "$work/ukmax-tcp.out"
echo '```'
echo
echo '```'
cat "$work/uk-fixed.out"
echo '```'
echo
echo "find-max runs (NSD, then ukbench serve dns):"
echo '```'
cat "$work/find-max.log"
echo '```'
