#!/usr/bin/env bash
# CPU per call of the server and of the agent, direct mode beside agent mode:
# wrk drives the small stateless `run_query` at a fixed concurrency, and each
# process's CPU time (utime+stime from /proc/<pid>/stat) over the run is
# divided by the calls answered. Rounds alternate direct and agent mode, after
# a short unrecorded warm-up each, so that a disturbance shows as spread
# between rounds rather than as a difference between modes.
#
# Usage:
#   bench/cpu-per-call.sh [--bin PATH] [--concurrency N] [--duration S] [--rounds N]
#
# The agent runs in its own process with the server's durability
# (CONEXOR_BENCH_DURABILITY, process-crash by default), as in bench/http.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly COMMAND="bench/cpu-per-call.sh${*:+ $*}"
log() { printf 'bench-cpu: %s\n' "$*" >&2; }
die() { printf 'bench-cpu: ERROR: %s\n' "$*" >&2; exit 1; }

bin=
concurrency=8
duration=6
rounds=2
while (($#)); do
  case $1 in
    --bin) bin=$(realpath "$2"); shift ;;
    --concurrency) concurrency=$2; shift ;;
    --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk); bench/http.sh installs it"
cd "$ROOT"
work=$(mktemp -d /tmp/conexor-bench-cpu.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  CONEXOR_TEST_DIR="$work/db" scripts/test-env.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
prepare_bench
start_conexor "$bin" conexor
log "starting an agent (its own process)"
start_agent "$bin" agent "$conexor_port" "$conexor_api" shop_agent
wrk_script "$conexor_key" "$MCP_SMALL_CALL" >"$work/direct.lua"
sed 's/"connection":"shop"/"connection":"shop_agent"/' "$work/direct.lua" >"$work/agent.lua"
grep -q shop_agent "$work/agent.lua" || die "could not write the agent-mode request"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "### CPU per call, server and agent"
echo
echo "- Command: \`$COMMAND\`; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short=12 HEAD)"
echo "- Machine: $(nproc) cores, $(uname -r); \`conexor server --durability ${CONEXOR_BENCH_DURABILITY:-process-crash}\`, agent alike; wrk, $concurrency connections, ${duration} s a round after 2 s unrecorded"
echo
echo "| round | mode | req/s | server µs/call | agent µs/call |"
echo "| ---: | --- | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  for mode in direct agent; do
    url="http://127.0.0.1:$conexor_port/mcp"
    wrk -t 1 -c "$concurrency" -d 2s -s "$work/$mode.lua" "$url" >/dev/null 2>&1 || true
    s0=$(ticks "$conexor_pid"); a0=$(ticks "$agent_pid")
    rps=$(wrk -t 1 -c "$concurrency" -d "${duration}s" -s "$work/$mode.lua" "$url" | awk '/^Requests\/sec:/ {print $2}')
    s1=$(ticks "$conexor_pid"); a1=$(ticks "$agent_pid")
    awk -v r="$round" -v m="$mode" -v n="$rps" -v d="$duration" -v hz="$hz" -v ds=$((s1 - s0)) -v da=$((a1 - a0)) \
      'BEGIN { calls = n * d; printf "| %d | %s | %.0f | %.0f | %.0f |\n", r, m, n, ds / hz * 1e6 / calls, da / hz * 1e6 / calls }'
  done
done
