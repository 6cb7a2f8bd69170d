#!/usr/bin/env bash
# quickstart.sh UKBENCH OUTDIR: the main job until `ukbench run` boots guests:
# DNS and HTTP sweeps against ukbench's own servers on loopback.
set -euo pipefail
bin=${1:-bin/ukbench}
out=${2:-ukbench-results/quickstart}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/serve-bg.sh"
mkdir -p "$out"

start_server "ukbench serve: ready" "$out/serve-dns.log" "$bin" serve dns --listen 127.0.0.1:0
dns_addr=$(awk '/ukbench serve: ready/ {print $5; exit}' "$out/serve-dns.log")
start_server "ukbench serve: ready" "$out/serve-http.log" "$bin" serve http --listen 127.0.0.1:0
http_addr=$(awk '/ukbench serve: ready/ {print $5; exit}' "$out/serve-http.log")

"$bin" load dns --server "$dns_addr" --rates 2000:20000:6000 --step 5s --warmup 1s \
  --target native --out "$out/dns.json" --hist "$out/hist/dns"
"$bin" load http --url "http://$http_addr/" --rates 1000:7000:3000 --step 5s --warmup 1s \
  --expect-body-size 612 --target native --out "$out/http.json" --hist "$out/hist/http"
cat "$out/dns.json" "$out/http.json" > "$out/runs.jsonl"
"$bin" report -o "$out/report" "$out"
