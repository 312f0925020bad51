#!/usr/bin/env bash
# Cold start: from `conexor server` starting on an existing store to its first
# answered `run_query` (which includes the key derivation, opening the pool
# and reading the catalog), measured from outside, several times.
#
# Usage: bench/coldstart.sh [--bin PATH] [--runs N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BENCH="$ROOT/bench"
log() { printf 'bench-coldstart: %s\n' "$*" >&2; }
die() { printf 'bench-coldstart: ERROR: %s\n' "$*" >&2; exit 1; }
bin=
runs=5
while (($#)); do
  case $1 in
    --bin) bin=$(realpath "$2"); shift ;;
    --runs) runs=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
cd "$ROOT"
work=$(mktemp -d /tmp/conexor-bench-coldstart.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/test-env.sh stop "$work/db" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
prepare_bench
start_conexor "$bin" conexor
times=()
for _ in $(seq 1 "$runs"); do
  kill "$conexor_pid"; wait "$conexor_pid" 2>/dev/null || true
  started=$(date +%s%N)
  CONEXOR_ADMIN_TOKEN="$conexor_admin" "$bin" server --data-dir "$work/conexor" --listen "127.0.0.1:$conexor_port" \
    --durability process-crash --log-level warn 2>>"$work/conexor.log" &
  conexor_pid=$!
  pids+=("$conexor_pid")
  until curl -sf -o "$work/answer" -H "Authorization: Bearer $conexor_key" -H 'Content-Type: application/json' \
      -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
      -H 'Mcp-Method: tools/call' -H 'Mcp-Name: run_query' -d "$MCP_SMALL_CALL" \
      "http://127.0.0.1:$conexor_port/mcp" 2>/dev/null && grep -q '"row_count":1' "$work/answer"; do
    sleep 0.005
  done
  times+=("$(( ($(date +%s%N) - started) / 1000000 ))")
done
echo "Cold start (process start to the first answered run_query on an existing store), ms: ${times[*]}"
echo "(\`bench/coldstart.sh${bin:+ --bin $bin} --runs $runs\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, release build)"
