#!/usr/bin/env bash
# bench/compare-trials.sh [UKBENCH] [TRIALS] [REPEATS]: how often `ukbench
# compare` cries wolf, and how often it catches a real 10 % slow-down.
# Two DNS servers run throughout: one holding each answer 2 ms, one 2.2 ms
# (the known truth: +10 % latency). Each trial measures REPEATS runs of the
# base server, REPEATS more of the same server and REPEATS of the slow one,
# interleaved (A B C A B C ...), then compares base with each.
set -euo pipefail
bin=$(realpath "${1:-bin/ukbench}")
trials=${2:-20}
repeats=${3:-5}
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT

start_server "ukbench serve: ready" "$work/a.log" taskset -c "$SERVER_CPU" "$bin" serve dns --listen 127.0.0.1:0 --delay 2ms
a=$(awk '/ready/ {print $5; exit}' "$work/a.log")
start_server "ukbench serve: ready" "$work/b.log" taskset -c "$SERVER_CPU" "$bin" serve dns --listen 127.0.0.1:0 --delay 2200us
b=$(awk '/ready/ {print $5; exit}' "$work/b.log")

one_run() { # server outfile repeat
  taskset -c "$GEN_CPU" "$bin" load dns --server "$1" --rates 500 --step 2s --warmup 500ms --quiet --out "$work/run.json" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["target"]="dns-server"; r["accel"]="none"; r["repeat"]=int(sys.argv[2]); print(json.dumps(r))' "$work/run.json" "$3" >>"$2"
}
false_pos=0 caught=0
machine
echo "trials: $trials, repeats per side: $repeats, 500 queries/s for 2 s per run, delay 2 ms vs 2.2 ms"
for t in $(seq 1 "$trials"); do
  d="$work/t$t"; mkdir -p "$d/base" "$d/same" "$d/slow"
  for r in $(seq 1 "$repeats"); do
    one_run "$a" "$d/base/runs.jsonl" "$r"
    one_run "$a" "$d/same/runs.jsonl" "$r"
    one_run "$b" "$d/slow/runs.jsonl" "$r"
  done
  s=0; "$bin" compare "$d/base" "$d/same" >"$d/same.txt" 2>&1 || s=$?
  w=0; "$bin" compare "$d/base" "$d/slow" >"$d/slow.txt" 2>&1 || w=$?
  [ "$s" = 1 ] && false_pos=$((false_pos + 1))
  [ "$w" = 1 ] && caught=$((caught + 1))
  echo "trial $t: same → exit $s, slow → exit $w ($(grep -c REGRESSION "$d/slow.txt" || true) regressed metrics)"
  [ "$s" = 1 ] && grep REGRESSION "$d/same.txt" | sed 's/^/    false: /'
done
echo
echo "false regressions (same vs same): $false_pos of $trials"
echo "caught slow-downs (+10 %): $caught of $trials"
echo
echo "last trial, slow vs base:"
cat "$d/slow.txt"
