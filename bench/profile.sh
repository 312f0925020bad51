#!/usr/bin/env bash
# Where a small MCP call's CPU goes, by stage, counted in instructions.
#
# `conexor server` (release build) runs under valgrind's callgrind, which
# counts user-space instructions: the count is repeatable for the same binary
# and inputs whatever else the machine is doing (wall-clock profiles on a
# shared 2-core machine are not). Instrumentation is switched on only around
# the measured calls, after a warm-up. Kernel time (syscalls, scheduling) is
# not counted: `--strace` adds a syscall count for the same calls.
#
# Usage:
#   bench/profile.sh [--calls N] [--bin PATH] [--strace] [--keep DIR] [--agent | --agent-side]
#
#   --agent       the call goes to a connection offered by `conexor agent` (its own
#                 process, not instrumented): the server's share of an agent-mode call
#   --agent-side  the same agent-mode call, with the agent under callgrind and the
#                 server not instrumented: the agent's share of the call
#
# Prints a Markdown section: instructions per call, the inclusive share of
# each stage, and the self cost grouped by crate.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BENCH="$ROOT/bench"
readonly COMMAND="bench/profile.sh${*:+ $*}"
log() { printf 'bench-profile: %s\n' "$*" >&2; }
die() { printf 'bench-profile: ERROR: %s\n' "$*" >&2; exit 1; }

calls=200
bin=
strace=0
keep=
agent=0
while (($#)); do
  case $1 in
    --calls) calls=$2; shift ;;
    --agent) agent=1 ;;
    --agent-side) agent=2 ;;
    --bin) bin=$(realpath "$2"); shift ;;
    --strace) strace=1 ;;
    --keep) keep=$(realpath -m "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
cd "$ROOT"
command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"
if ((strace)) && ! command -v strace >/dev/null; then
  [[ $(id -u) == 0 ]] || die "strace is missing (apt-get install strace)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
fi

work=$(mktemp -d /tmp/conexor-bench-profile.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/test-env.sh stop "$work/db" >/dev/null 2>&1 || true
  [[ -n $keep ]] && { mkdir -p "$keep"; cp "$work"/callgrind.out* "$work"/*.txt "$keep"/ 2>/dev/null || true; }
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

prepare_bench

if ((agent == 2)); then
  # The server runs normally; the agent, in its own process, under callgrind.
  start_conexor "$bin" conexor
  port=$conexor_port
  log "starting an agent under callgrind"
  CONEXOR_BENCH_AGENT_WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$work/callgrind.out" \
    start_agent "$bin" agent "$port" "$conexor_api" shop_agent
  vg_pid=$agent_pid
  body=${MCP_SMALL_CALL/\"connection\":\"shop\"/\"connection\":\"shop_agent\"}
  [[ $body == *shop_agent* ]] || die "could not write the agent-mode request"
else
# Set the store up with a normal run, then serve the same store under callgrind.
start_conexor "$bin" conexor
kill "$conexor_pid"; wait "$conexor_pid" 2>/dev/null || true
port=$(free_port)
log "serving under callgrind"
CONEXOR_ADMIN_TOKEN="$conexor_admin" valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$work/callgrind.out" \
  "$bin" server --data-dir "$work/conexor" --listen "127.0.0.1:$port" \
  --durability process-crash --log-level warn 2>"$work/valgrind.log" &
vg_pid=$!
pids+=("$vg_pid")
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || die "the server did not start under valgrind: $(tail -5 "$work/valgrind.log")"

fi
((agent == 2)) || body=$MCP_SMALL_CALL
if ((agent == 1)); then
  # Agent mode: `conexor agent` in its own process (not instrumented) offers the
  # same PostgreSQL login to the instrumented server; the server's share of the
  # call is what is counted.
  log "starting an agent (its own process) for agent mode"
  start_agent "$bin" agent "$port" "$conexor_api" shop_agent
  body=${MCP_SMALL_CALL/\"connection\":\"shop\"/\"connection\":\"shop_agent\"}
  [[ $body == *shop_agent* ]] || die "could not write the agent-mode request"
fi

# One keep-alive client, sequential calls: warm-up (pool, catalog, key), then
# the measured calls with instrumentation on.
cat >"$work/client.py" <<'PY'
import http.client, json, sys
port, key, n, body = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json",
           "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
           "Mcp-Method": "tools/call", "Mcp-Name": "run_query"}
for _ in range(n):
    conn.request("POST", "/mcp", body, headers)
    answer = conn.getresponse().read()
    if b'"isError":true' in answer or b"customer" not in answer and b"42" not in answer:
        sys.exit("unexpected answer: " + answer[:300].decode(errors="replace"))
PY
# The warm-up also lets the pool grow to its size (a session returns to it
# after its ROLLBACK, which runs after the answer), so no login is counted.
python3 "$work/client.py" "$port" "$conexor_key" 150 "$body"
callgrind_control -i on "$vg_pid" >/dev/null
if ((strace)); then
  strace -c -f -p "$vg_pid" -o "$work/strace.txt" &
  strace_pid=$!
fi
python3 "$work/client.py" "$port" "$conexor_key" "$calls" "$body"
callgrind_control -i off "$vg_pid" >/dev/null
((strace)) && { kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true; }
kill -TERM "$vg_pid"; wait "$vg_pid" 2>/dev/null || true

log "annotating"
callgrind_annotate --inclusive=yes --threshold=100 "$work/callgrind.out" >"$work/inclusive.txt"
callgrind_annotate --threshold=100 "$work/callgrind.out" >"$work/self.txt"
side=server
((agent == 2)) && side=agent
python3 "$BENCH/profile_stages.py" "$work/inclusive.txt" "$work/self.txt" "$calls" "$COMMAND" "$bin" "$side"
if ((strace)) && [[ -s $work/strace.txt ]]; then
  echo
  echo "Syscalls during the measured calls (strace -c -f; per call = count / $calls):"
  echo
  echo '```'
  head -n 25 "$work/strace.txt"
  echo '```'
fi
