#!/usr/bin/env bash
# Times `bash scripts/start` until GET /readyz answers 200, then stops the server it started.
# Prints wall seconds, the CPU seconds the start used (its own and its finished children's) and the
# load average. Usage: bash bench/start_time.sh LABEL   (CRM_PORT, default 8719)
set -euo pipefail
cd "$(dirname "$0")/.."
port=${CRM_PORT:-8719}
log=$(mktemp)
began=$(date +%s.%N)
CRM_PORT=$port bash scripts/start >"$log" 2>&1 &
pid=$!
until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "scripts/start exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
ready=$(date +%s.%N)
cpu=$(awk -v ticks="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / ticks}' "/proc/$pid/stat")
echo "${1:-start}: ready after $(echo "$ready - $began" | bc) s wall, $cpu s CPU (load $(cut -d' ' -f1 /proc/loadavg))"
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$log"
