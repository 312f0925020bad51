#!/usr/bin/env bash
# Cost as the work grows (issue 10): the real `conexor server` binary over HTTP,
# each part on a fresh data directory, against a private PostgreSQL
# (scripts/test-env.sh). Prints a Markdown section with every figure.
#
# Parts (all by default; pick with --parts a,b,...):
#   schema    discovery and search_schema on databases of N tables (--tables):
#             `connections add` and `refresh` time, store size, search_schema
#             and describe_table latency and answer bytes, resources/list pages
#   tools     tools/list with N named tools (--named-tools) and one named call
#   audit     a chain of N records (--audit-records, cumulative sizes), written by
#             the server's own audit writer (bench/src/bin/growth.rs), then
#             `conexor audit export` and `conexor audit verify --pubkey`:
#             time and peak RSS (client and server)
#   auth      an authenticated call with 1 key vs with W workspaces x K keys in
#             the store (--auth-workspaces, --auth-keys-per-workspace); first
#             (KEK derivation) and warm run_query
#   sessions  N concurrent MCP sessions (--sessions) with the official Python SDK:
#             time to open, server RSS and threads, a small call's latency
#
# Usage:
#   bench/growth.sh [--bin PATH] [--parts schema,tools,audit,auth,sessions]
#                   [--tables 1000,10000] [--named-tools 500]
#                   [--audit-records 1000000,10000000] [--auth-workspaces 1000]
#                   [--auth-keys-per-workspace 10] [--sessions 500] [--out FILE]
#
#   --bin        the conexor binary to measure (default: cargo build --release
#                --locked -p conexor, then target/release/conexor)
#   --growth-bin the conexor-growth filler (default: cargo build --release
#                -p conexor-bench --bin conexor-growth)
#
# Everything it starts (PostgreSQL, servers) is stopped on exit and its temp
# directory removed. Progress on stderr; the Markdown on stdout (and --out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly COMMAND="bench/growth.sh${*:+ $*}"
log() { printf 'bench-growth: %s\n' "$*" >&2; }
die() { printf 'bench-growth: ERROR: %s\n' "$*" >&2; exit 1; }

bin=
growth_bin=
parts=schema,tools,audit,auth,sessions
tables=1000,10000
named_tools=500
audit_records=1000000,10000000
auth_workspaces=1000
auth_keys=10
sessions=500
out=
while (($#)); do
  case $1 in
    --bin) bin=$(realpath "$2"); shift ;;
    --growth-bin) growth_bin=$(realpath "$2"); shift ;;
    --parts) parts=$2; shift ;;
    --tables) tables=$2; shift ;;
    --named-tools) named_tools=$2; shift ;;
    --audit-records) audit_records=$2; shift ;;
    --auth-workspaces) auth_workspaces=$2; shift ;;
    --auth-keys-per-workspace) auth_keys=$2; shift ;;
    --sessions) sessions=$2; shift ;;
    --out) out=$(realpath -m "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
cd "$ROOT"
has_part() { [[ ",$parts," == *",$1,"* ]]; }

if [[ -z $bin ]]; then
  log "building the release binary"
  cargo build --release --locked -p conexor >&2
  bin="$ROOT/target/release/conexor"
fi
if [[ -z $growth_bin ]] && has_part audit; then
  log "building the conexor-growth filler"
  cargo build --release --locked -p conexor-bench --bin conexor-growth >&2
  growth_bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/conexor-growth"
fi
PY=
if has_part schema || has_part tools || has_part auth || has_part sessions; then
  PY=$(scripts/python-env.sh)
fi
readonly HELPER="$ROOT/bench/growth.py"

work=$(mktemp -d /tmp/conexor-bench-growth.XXXXXX)
chmod 755 "$work"
srv_pid=
cleanup() {
  local code=$?
  [[ -n $srv_pid ]] && kill "$srv_pid" 2>/dev/null || true
  scripts/test-env.sh stop "$work/db" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
store_bytes() { du -cb "$1"/conexor.db* | awk 'END {print $1}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# /usr/bin/time -v fields of a finished command.
tv() { awk -F': ' -v k="$2" '$1 ~ k {print $2}' "$1"; }
user_sys() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$1"; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }

admin="cxadm_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
export CONEXOR_ADMIN_TOKEN=$admin
# start_server NAME [FLAGS...]: a fresh server on $work/NAME (kept if it exists).
start_server() {
  local name=$1
  shift
  srv_port=$(free_port)
  srv_dir="$work/$name"
  "$bin" server --data-dir "$srv_dir" --listen "127.0.0.1:$srv_port" \
    --durability process-crash --log-level warn "$@" 2>>"$work/$name.log" &
  srv_pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$srv_port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$srv_port/readyz" >/dev/null || die "server $name did not start: $(tail -5 "$work/$name.log")"
  export CONEXOR_URL="http://127.0.0.1:$srv_port"
}
stop_server() {
  kill -TERM "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=
}
# init_workspace: sets $ws_id and $admin_key (and exports it as CONEXOR_API_KEY).
init_workspace() {
  local answer
  answer=$("$bin" init --json)
  ws_id=$(json 'd["workspace_id"]' <<<"$answer")
  admin_key=$(json 'd["api_key"]' <<<"$answer")
  export CONEXOR_API_KEY=$admin_key
}
mcp_key() { "$bin" keys create --scope mcp --label "${1:-bench}" --json | json 'd["api_key"]'; }

need_pg=0
{ has_part schema || has_part tools || has_part auth || has_part sessions; } && need_pg=1
if ((need_pg)); then
  log "starting a private PostgreSQL"
  eval "$(CONEXOR_TEST_DIR="$work/db" CONEXOR_TEST_SERVERS=pg CONEXOR_TEST_OWNER_PID=$$ scripts/test-env.sh start)"
  PSQL=/usr/lib/postgresql/15/bin/psql
fi
# db_url URL DBNAME: the same login on another database.
db_url() { sed "s#/[^/]*\$#/$2#" <<<"$1"; }

sections=()
add() { sections+=("$*"); }

# --- schema: discovery and search on N tables ---------------------------------
if has_part schema; then
  IFS=, read -r -a sizes <<<"$tables"
  add "### Discovery and search_schema"
  add ""
  add "A PostgreSQL database of N tables (6 columns, a primary key, comments on the table and two columns; names like \`billing_invoices_00042\`), one connection, a fresh store per size. Discovery is \`conexor connections add\` (test + discover + seal, CLI included) and \`connections refresh\`; store size is conexor.db + WAL after it. Latencies are p50 of 5 stateless POSTs on one keep-alive connection; bytes are the HTTP answer."
  add ""
  add "| tables | add (s) | refresh (s) | store MiB | server RSS MiB | pattern | matches (total) | search p50 ms | answer bytes | describe_table p50 ms | resources/list pages | all pages (s) | first / last page ms | all pages bytes |"
  add "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for n in "${sizes[@]}"; do
    db="growth_$n"
    log "schema: creating $n tables in $db"
    t0=$(now)
    "$PSQL" -qX -v ON_ERROR_STOP=1 "$CONEXOR_TEST_PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER cx_writer" >&2
    "$PSQL" -qX -v ON_ERROR_STOP=1 "$(db_url "$CONEXOR_TEST_PG_WRITER_URL" "$db")" >&2 <<SQL
DO \$\$
DECLARE
  domains text[] := ARRAY['sales','billing','hr','ops','inventory','marketing','support','finance'];
  entities text[] := ARRAY['orders','invoices','customers','payments','shipments','tickets','employees','products','events','accounts'];
  t text; d text; e text;
BEGIN
  FOR i IN 1..$n LOOP
    d := domains[1 + i % 8]; e := entities[1 + (i / 8) % 10];
    t := format('%s_%s_%s', d, e, lpad(i::text, 5, '0'));
    EXECUTE format('CREATE TABLE %I (id bigint PRIMARY KEY, name text NOT NULL, status text, amount numeric(12,2), created_at timestamptz NOT NULL DEFAULT now(), customer_id bigint)', t);
    EXECUTE format('COMMENT ON TABLE %I IS %L', t, format('%s of the %s team, partition %s', initcap(e), d, i));
    EXECUTE format('COMMENT ON COLUMN %I.amount IS %L', t, 'Amount in euros, tax included');
    EXECUTE format('COMMENT ON COLUMN %I.customer_id IS %L', t, 'The customer (customers.id)');
    IF i % 200 = 0 THEN COMMIT; END IF;
  END LOOP;
END \$\$;
GRANT USAGE ON SCHEMA public TO cx_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cx_reader;
SQL
    "$PSQL" -qX -v ON_ERROR_STOP=1 "$CONEXOR_TEST_PG_ADMIN_URL" -c "GRANT CONNECT ON DATABASE $db TO cx_reader" >&2
    log "schema: $n tables created in $(since "$t0") s"
    start_server "schema_$n"
    init_workspace
    key=$(mcp_key)
    t0=$(now)
    db_url "$CONEXOR_TEST_PG_READER_URL" "$db" | "$bin" connections add big --url-stdin >/dev/null
    add_s=$(since "$t0")
    t0=$(now)
    "$bin" connections refresh big >/dev/null
    refresh_s=$(since "$t0")
    store=$(mib "$(store_bytes "$srv_dir")")
    rss=$(awk -v k="$(rss_kib "$srv_pid")" 'BEGIN {printf "%.0f", k / 1024}')
    log "schema: $n tables discovered in $add_s s (refresh $refresh_s s), store $store MiB"
    "$PY" "$HELPER" schema "$CONEXOR_URL/mcp" "$key" big --describe "billing_invoices_$(printf '%05d' 9)" \
      --pattern invoice --pattern customer --pattern '%00042' --pattern zzzz >"$work/schema.json"
    res=$(json '"%s | %s | %s | %s / %s | %s" % (d["describe"]["p50_ms"], d["resources"]["pages"], round(d["resources"]["total_ms"] / 1000, 2), d["resources"]["first_page_ms"], d["resources"]["last_page_ms"], d["resources"]["bytes"])' <"$work/schema.json")
    lead="| $n | $add_s | $refresh_s | $store | $rss"
    while IFS=$'\t' read -r pattern shown total p50 bytes; do
      add "$lead | \`$pattern\` | $shown ($total) | $p50 | $bytes | $res |"
      lead="| | | | |"
      res=" | | | | "
    done < <(json '"\n".join("\t".join(str(x) for x in (s["pattern"], s["matches_shown"], s["total"], s["p50_ms"], s["bytes"])) for s in d["search"])' <"$work/schema.json")
    stop_server
  done
  add ""
fi

# --- tools: tools/list with N named tools -------------------------------------
if has_part tools; then
  log "tools: $named_tools named tools"
  start_server tools
  init_workspace
  key=$(mcp_key)
  echo "$CONEXOR_TEST_PG_READER_URL" | "$bin" connections add shop --url-stdin >/dev/null
  "$PY" "$HELPER" tools "$CONEXOR_URL/mcp" "$key" --call - >"$work/tools0.json"
  python3 - "$named_tools" >"$work/tools.toml" <<'EOF'
import sys
for i in range(int(sys.argv[1])):
    print(f'''[[tools]]
name = "customer_by_id_{i:04d}"
description = "One customer by id (variant {i} of the named-tools growth test)"
connection = "shop"
sql = "SELECT id, email, country FROM customers WHERE id = $1"
max_rows = 1

[[tools.params]]
name = "id"
type = "integer"
required = true
description = "The customer id"
''')
EOF
  t0=$(now)
  "$bin" tools add --file "$work/tools.toml" >/dev/null
  tools_add_s=$(since "$t0")
  "$PY" "$HELPER" tools "$CONEXOR_URL/mcp" "$key" --call "customer_by_id_$(printf '%04d' $((named_tools - 1)))" >"$work/tools.json"
  stop_server
  add "### tools/list with $named_tools named tools"
  add ""
  add "\`conexor tools add --file\` of $named_tools named queries (each checked by the guard when saved): **${tools_add_s} s**."
  add ""
  add "| tools | pages | bytes, all pages | all pages ms (best of 5) | first page ms | last page ms | a named tool's call p50 ms |"
  add "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  add "$(json '"| %s (generic only) | %s | %s | %s | %s | %s | |" % (d["items"], d["pages"], d["bytes"], d["total_ms"], d["first_page_ms"], d["last_page_ms"])' <"$work/tools0.json")"
  add "$(json '"| %s | %s | %s | %s | %s | %s | %s |" % (d["items"], d["pages"], d["bytes"], d["total_ms"], d["first_page_ms"], d["last_page_ms"], d["call"]["p50_ms"])' <"$work/tools.json")"
  add ""
fi

# --- audit: export and verify a long chain ------------------------------------
if has_part audit; then
  IFS=, read -r -a sizes <<<"$audit_records"
  start_server audit --audit-checkpoint-records 1000 --audit-checkpoint-seconds 60
  init_workspace
  pubkey=$("$bin" audit pubkey --data-dir "$srv_dir")
  stop_server
  add "### Audit export and offline verify"
  add ""
  add "The chain is filled by \`conexor-growth audit-fill\` (bench/src/bin/growth.rs): the server's own audit writer (\`conexor_server::audit::AuditLog\`, group commit, a checkpoint every 1,000 records and 60 s, signed with the data directory's key) on the stopped server's store; sizes are cumulative (one chain grows; each server start adds its \`admin.start\` record). Export is \`conexor audit export -o FILE\` (JSON Lines) against the running server; verify is \`conexor audit verify FILE --pubkey\` (the key from \`conexor audit pubkey --data-dir\`). Peak RSS from \`/usr/bin/time -v\` (clients) and the server's VmRSS sampled every 0.2 s during the export."
  add ""
  add "| records | fill (s) | fill records/s | store GiB | export wall (s) | export CPU s: server / CLI | export MiB | export CLI peak RSS MiB | server RSS before / peak during export MiB | verify wall (s) | verify CPU s | verify records per CPU s | verify peak RSS MiB | verify says |"
  add "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  have=0
  for n in "${sizes[@]}"; do
    more=$((n - have))
    ((more > 0)) || continue
    log "audit: appending $more records (to $n)"
    "$growth_bin" audit-fill --data-dir "$srv_dir" --workspace "$ws_id" --records "$more" >"$work/fill.json"
    have=$n
    fill_s=$(json 'round(d["seconds"], 1)' <"$work/fill.json")
    fill_rate=$(json 'int(d["records_per_second"])' <"$work/fill.json")
    store=$(awk -v b="$(store_bytes "$srv_dir")" 'BEGIN {printf "%.2f", b / 1073741824}')
    start_server audit --audit-checkpoint-records 1000 --audit-checkpoint-seconds 60
    before=$(rss_kib "$srv_pid")
    srv_cpu0=$(cpu_s "$srv_pid")
    peak=$before
    rm -f "$work/export.jsonl"
    log "audit: exporting $n records"
    /usr/bin/time -v "$bin" audit export -o "$work/export.jsonl" 2>"$work/export.time" &
    exp_pid=$!
    while kill -0 "$exp_pid" 2>/dev/null; do
      r=$(rss_kib "$srv_pid")
      ((r > peak)) && peak=$r
      sleep 0.2
    done
    wait "$exp_pid" || die "export failed: $(tail -5 "$work/export.time")"
    srv_cpu=$(awk -v a="$(cpu_s "$srv_pid")" -v b="$srv_cpu0" 'BEGIN {printf "%.1f", a - b}')
    stop_server
    exp_s=$(tv "$work/export.time" 'Elapsed \\(wall clock\\)')
    exp_rss=$(( $(tv "$work/export.time" 'Maximum resident') / 1024 ))
    exp_mib=$(mib "$(stat -c %s "$work/export.jsonl")")
    log "audit: verifying"
    /usr/bin/time -v "$bin" audit verify "$work/export.jsonl" --pubkey "$pubkey" >"$work/verify.out" 2>"$work/verify.time" ||
      die "verify failed: $(cat "$work/verify.out")"
    ver_s=$(tv "$work/verify.time" 'Elapsed \\(wall clock\\)')
    ver_cpu=$(user_sys "$work/verify.time")
    ver_rss=$(( $(tv "$work/verify.time" 'Maximum resident') / 1024 ))
    ver_rate=$(awk -v n="$n" -v s="$ver_cpu" 'BEGIN {printf "%.0f", n / s}')
    says=$(cut -c1-60 "$work/verify.out")
    add "| $n | $fill_s | $fill_rate | $store | $exp_s | $srv_cpu / $(user_sys "$work/export.time") | $exp_mib | $exp_rss | $((before / 1024)) / $((peak / 1024)) | $ver_s | $ver_cpu | $ver_rate | $ver_rss | $says… |"
    rm -f "$work/export.jsonl"
  done
  add ""
fi

# --- auth: 1 key vs many keys and workspaces -----------------------------------
if has_part auth; then
  log "auth: baseline with one workspace"
  start_server auth
  init_workspace
  base_ws=$ws_id
  echo "$CONEXOR_TEST_PG_READER_URL" | "$bin" connections add shop --url-stdin >/dev/null
  { echo "$ws_id admin $admin_key"; for i in 1 2 3 4; do echo "$ws_id mcp $(mcp_key "auth $i")"; done; } >"$work/base.keys"
  "$PY" "$HELPER" auth "$CONEXOR_URL/mcp" --keys "$work/base.keys" --sample 5 --rounds 100 >"$work/auth1.json"
  "$PY" "$HELPER" firstcall "$CONEXOR_URL/mcp" --keys "$work/base.keys" --workspaces "$base_ws" --conn shop >"$work/first1.json"
  keys_before=5
  log "auth: creating $auth_workspaces workspaces x $auth_keys keys"
  t0=$(now)
  "$growth_bin" keys-fill --url "$CONEXOR_URL" --workspaces "$auth_workspaces" --keys-per-workspace "$auth_keys" \
    --threads 2 --out "$work/many.keys" >"$work/keys.json"
  fill_s=$(since "$t0")
  # Two of the new workspaces get the connection, for run_query with their keys.
  mapfile -t picked < <(awk '$2 == "admin" {print $1, $3}' "$work/many.keys" | sed -n '1p;$p')
  for line in "${picked[@]}"; do
    read -r w k <<<"$line"
    echo "$CONEXOR_TEST_PG_READER_URL" | CONEXOR_API_KEY=$k "$bin" connections add shop --url-stdin >/dev/null
  done
  ws_list=$(printf '%s\n' "${picked[@]}" | awk '{print $1}' | paste -sd,)
  store=$(mib "$(store_bytes "$srv_dir")")
  "$PY" "$HELPER" auth "$CONEXOR_URL/mcp" --keys "$work/many.keys" --sample 500 --rounds 1 >"$work/authn.json"
  "$PY" "$HELPER" firstcall "$CONEXOR_URL/mcp" --keys "$work/many.keys" --workspaces "$ws_list" --conn shop >"$work/firstn.json"
  total_keys=$((keys_before + auth_workspaces * auth_keys))
  rss=$(( $(rss_kib "$srv_pid") / 1024 ))
  stop_server
  add "### Authentication with many keys"
  add ""
  add "\`tools/list\` (stateless POST: bearer check = one store lookup of the key id + salted SHA-256, then the workspace's tools) with different keys on one keep-alive connection; \`run_query\` of one row: the first call in a workspace opens the connection's sealed spec with the caller's key (KEK derivation, PBKDF2 600,000 iterations, then the pool and its catalog read); the first call of every other key of that workspace finds the pool open and derives nothing; warm calls after that. The many-keys store was filled through the REST API by \`conexor-growth keys-fill\` ($auth_workspaces workspaces x $auth_keys keys, real PBKDF2 wraps) in $fill_s s; store $store MiB; server RSS $rss MiB after."
  add ""
  add "| keys in store | workspaces | keys called | tools/list first call per key p50 ms | warm p50 ms | warm p99 ms | same key repeated p50 ms | run_query first call in the workspace (derivation + pool) / first call of another key p50 ms | run_query warm p50 ms |"
  add "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  add "| $keys_before | 1 | $(json 'd["sampled_keys"]' <"$work/auth1.json") | $(json 'd["first_p50_ms"]' <"$work/auth1.json") | $(json 'd["warm_p50_ms"]' <"$work/auth1.json") | $(json 'd["warm_p99_ms"]' <"$work/auth1.json") | $(json 'd["one_key_p50_ms"]' <"$work/auth1.json") | $(json 'd["first_call_new_pool_p50_ms"]' <"$work/first1.json") / $(json 'd["first_call_p50_ms"]' <"$work/first1.json") | $(json 'd["warm_p50_ms"]' <"$work/first1.json") |"
  add "| $total_keys | $((auth_workspaces + 1)) | $(json 'd["sampled_keys"]' <"$work/authn.json") | $(json 'd["first_p50_ms"]' <"$work/authn.json") | $(json 'd["warm_p50_ms"]' <"$work/authn.json") | $(json 'd["warm_p99_ms"]' <"$work/authn.json") | $(json 'd["one_key_p50_ms"]' <"$work/authn.json") | $(json 'd["first_call_new_pool_p50_ms"]' <"$work/firstn.json") / $(json 'd["first_call_p50_ms"]' <"$work/firstn.json") | $(json 'd["warm_p50_ms"]' <"$work/firstn.json") |"
  add ""
fi

# --- sessions: N concurrent MCP sessions --------------------------------------
if has_part sessions; then
  log "sessions: $sessions concurrent sessions"
  start_server sessions
  init_workspace
  echo "$CONEXOR_TEST_PG_READER_URL" | "$bin" connections add shop --url-stdin >/dev/null
  per_key_cap=64
  nkeys=$(( (sessions + 49) / 50 ))
  for i in $(seq 1 "$nkeys"); do echo "$ws_id mcp $(mcp_key "session $i")"; done >"$work/session.keys"
  idle_rss=$(( $(rss_kib "$srv_pid") / 1024 ))
  "$PY" "$HELPER" sessions "$CONEXOR_URL/mcp" --keys "$work/session.keys" --sessions "$sessions" --pid "$srv_pid" >"$work/sessions.json"
  stop_server
  add "### $sessions concurrent MCP sessions"
  add ""
  add "The official MCP Python SDK (one process, one \`Client\` per session, 50 opening at a time), $nkeys mcp keys with $(( (sessions + nkeys - 1) / nkeys )) sessions each (the server's default cap is $per_key_cap live sessions per key; one more closes that key's least recently used). The small call is \`list_connections\` on 50 sessions spread over all of them, one at a time, while all are open."
  add ""
  add "| sessions | errors | open all (s) | CPU s while opening: server / client | open p50 / max ms | server RSS idle / all open / after calls / all closed MiB | server threads before / open | call p50 / max ms | one session repeated p50 ms | close all (s) |"
  add "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  add "$(json '"| %s | %s | %s | %s / %s | %s / %s | '"$idle_rss"' / %s / %s / %s | %s / %s | %s / %s | %s | %s |" % (d["sessions"], d["errors"], d["open_all_s"], d["open_server_cpu_s"], d["open_client_cpu_s"], d["open_p50_ms"], d["open_max_ms"], d["rss_open_mib"], d["rss_after_calls_mib"], d["rss_closed_mib"], d["threads_before"], d["threads_open"], d["call_p50_ms"], d["call_max_ms"], d["one_session_call_p50_ms"], d["close_all_s"])' <"$work/sessions.json")"
  add ""
fi

{
  echo "## Cost as the work grows"
  echo
  echo "- Command: \`$COMMAND\`; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short=12 HEAD)$([[ -n $(git status --porcelain) ]] && echo ' (uncommitted changes)')"
  echo "- Machine: $(nproc) cores, $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; $("$bin" --version 2>/dev/null | head -n1) (release build); \`conexor server --durability process-crash\`; PostgreSQL $( ((need_pg)) && "$PSQL" -XAtc 'SHOW server_version' "$CONEXOR_TEST_PG_ADMIN_URL" || echo '(not used)'); Python MCP SDK $( [[ -n $PY ]] && "$PY" -c 'import importlib.metadata as m; print(m.version("mcp"))' || echo '(not used)')"
  echo "- Clients, server and PostgreSQL share the same cores."
  echo
  printf '%s\n' "${sections[@]}"
} | tee ${out:+"$out"}
