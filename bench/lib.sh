# lib.sh — sourced by the bench scripts.
# Servers get CPU 1, generators CPU 0, so that each side has one core of
# the two this project's machines have, as a 1-vCPU guest would.
SERVER_CPU=${SERVER_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../scripts/serve-bg.sh"

# cpu_of CMD...: runs CMD pinned to the generator CPU; prints its stdout and
# writes "user sys" seconds (the command's own CPU time) to $CPU_FILE.
CPU_FILE=$(mktemp)
cpu_of() {
  /usr/bin/time -f "%U %S" -o "$CPU_FILE" taskset -c "$GEN_CPU" "$@"
}
cpu_total() { awk '{printf "%.3f", $1 + $2}' "$CPU_FILE"; }

machine() {
  echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r), $(go version | awk '{print $3}')"
}

# free_port: a TCP/UDP port free on 127.0.0.1 at this moment.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# proc_cpu PID: the process's user+sys CPU time so far, in seconds (children
# not included), from /proc/PID/stat.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"
}
