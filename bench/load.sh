#!/usr/bin/env bash
# Load and faults (issue 10): `conexor server` under many concurrent MCP
# sessions of the official Python SDK (bench/load.py), and under faults.
# Loopback (and one host-internal veth pair for the agent) only; every step
# is bounded in time. Scenarios:
#
#   load   --sessions sessions for --duration s, mixing small queries, schema
#          calls, refused queries and 1000-row answers; then the audit export
#          is matched with the answered calls and verified with the public key.
#   kill   the same load; SIGKILL the server a third of the way in, restart it
#          at once on the same port and store: no answered call without its
#          record, clients open new sessions.
#   pg     the same load; stop the private PostgreSQL (pg_ctl -m fast) a third
#          of the way in, start it again 10 s later: errors while it is down,
#          then answers again without restarting Conexor.
#   agent  an agent and its own PostgreSQL in a network namespace; MCP sessions
#          query through it while the agent is SIGKILLed and restarted, then
#          its link is cut (veth down inside the namespace) for 20 s and
#          restored: recovery times next to the agent's backoff.
#   slow   40 clients that send a tools/call with a ~5.4 MB answer and never read
#          it, beside live sessions: the server's RSS each second, the other
#          sessions' latency before, during and after.
#
# Usage:
#   bench/load.sh [--bin PATH] [--duration S] [--sessions N] [--scenario load,kill,pg,agent,slow]
#                 [--out FILE]
#
#   --bin       a conexor binary (default: cargo build --release --locked -p conexor)
#   --duration  length of the `load` scenario (default 60); the fault scenarios
#               run max(45, duration*3/4) s, the agent and slow ones fixed lengths
#   --sessions  concurrent MCP sessions of load, kill and pg (default 200);
#               agent and slow use a tenth (at least 10)
#
# Each scenario's clock starts once all its sessions are open (one Python
# process needs ~20 s to open 200 SDK sessions on 2 shared cores); kill and pg
# also run a curl probe with its own key, outside the Python process, so the
# server's recovery is seen without the client in the way. The default run
# takes about 10 minutes; each client run is under `timeout`.
#
# As root (PostgreSQL runs as user postgres, ip netns). Starts a private
# PostgreSQL with scripts/test-env.sh and stops everything it started on exit
# (servers, agent, probe, namespace, veth). Prints a Markdown section on stdout
# (and to --out when given).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly COMMAND="bench/load.sh${*:+ $*}"
log() { printf 'bench-load: %s\n' "$*" >&2; }
die() { printf 'bench-load: ERROR: %s\n' "$*" >&2; exit 1; }

bin=
duration=60
sessions=200
scenarios=load,kill,pg,agent,slow
out=
while (($#)); do
  case $1 in
    --bin) bin=$(realpath "$2"); shift ;;
    --duration) duration=$2; shift ;;
    --sessions) sessions=$2; shift ;;
    --scenario) scenarios=$2; shift ;;
    --out) out=$(realpath -m "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL as user postgres, ip netns)"
[[ $duration =~ ^[0-9]+$ && $sessions =~ ^[0-9]+$ ]] || die "--duration and --sessions take whole numbers"
cd "$ROOT"
want() { [[ ",$scenarios," == *",$1,"* ]]; }

readonly PG_BIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/conexor-bench-load.XXXXXX)
chmod 755 "$work"
NS="cxload$$"
VH="cxlh$$"
VN="cxln$$"
netns_made=0
cleanup() {
  local code=$?
  set +e
  for f in "$work"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
  done
  if ((netns_made)); then
    ip netns exec "$NS" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/agent-pg" -m immediate stop >/dev/null 2>&1
    ip link del "$VH" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
  fi
  [[ -n ${CONEXOR_TEST_DIR:-} ]] && scripts/test-env.sh stop "$CONEXOR_TEST_DIR" >/dev/null 2>&1
  if ((code != 0)); then
    for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 20 "$f"; } >&2; done
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

if [[ -z $bin ]]; then
  log "building the release binary"
  cargo build --release --locked -p conexor >&2
  bin="$ROOT/target/release/conexor"
fi
[[ -x $bin ]] || die "$bin is not an executable"
PY="$(scripts/python-env.sh)"

log "starting a private PostgreSQL"
eval "$(CONEXOR_TEST_DIR="$work/db" CONEXOR_TEST_SERVERS=pg CONEXOR_TEST_OWNER_PID=$$ scripts/test-env.sh start)"

# start_server NAME LISTEN_IP [EXTRA_ALLOWED_HOST]: a server on a fresh store,
# its admin key, a connection `shop` to the private PostgreSQL (reader login)
# and one MCP key per 25 sessions (under the 64 sessions a key may hold).
# Sets port, url, api, keys, server_cmd.
start_server() {
  local name=$1 ip=$2 nkeys=$3 admin i k
  port=$(free_port)
  url="http://$ip:$port"
  admin="cxadm_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
  cat >"$work/$name-start.sh" <<EOF
CONEXOR_ADMIN_TOKEN='$admin' nohup '$bin' server --data-dir '$work/$name' --listen '$ip:$port' \\
  --allowed-host '$ip' --durability process-crash --log-level warn </dev/null >>'$work/$name.log' 2>&1 &
echo \$! >'$work/server.pid'
for _ in \$(seq 1 100); do curl -sf '$url/readyz' >/dev/null && exit 0; sleep 0.1; done
echo 'server did not become ready' >&2; exit 1
EOF
  bash "$work/$name-start.sh" || die "the server did not start (log: $work/$name.log)"
  export CONEXOR_URL="$url"
  api="$("$bin" init --insecure --admin-token "$admin" --json | json_field api_key)"
  export CONEXOR_API_KEY="$api"
  keys=
  for ((i = 0; i < nkeys; i++)); do
    k="$("$bin" keys create --insecure --scope mcp --label "load-$i" --json | json_field api_key)"
    keys+="${keys:+,}$k"
  done
}
add_shop() { echo "$CONEXOR_TEST_PG_READER_URL" | "$bin" connections add shop --url-stdin --insecure >/dev/null; }
stop_server() {
  local pid
  pid=$(cat "$work/server.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$work/server.pid"
}
# audit_check NAME RUN_JSON...: export (JSON Lines), verify with the pinned
# public key, and match the records with the answered calls.
audit_check() {
  local name=$1 pubkey verify rc=0
  shift
  pubkey="$("$bin" audit pubkey --insecure | grep -o 'ed25519:[A-Za-z0-9_-]*' | head -n1)"
  "$bin" audit export --insecure --format jsonl -o "$work/$name-audit.jsonl" >/dev/null
  verify="$("$bin" audit verify "$work/$name-audit.jsonl" --pubkey "$pubkey" 2>&1)" || rc=$?
  "$PY" "$ROOT/bench/load.py" audit --export "$work/$name-audit.jsonl" "$@" |
    VERIFY="$verify" RC="$rc" python3 -c 'import json,os,sys; d=json.load(sys.stdin); d["verify"]=os.environ["VERIFY"].strip().splitlines()[-1][:200] if os.environ["VERIFY"].strip() else ""; d["verify_exit"]=int(os.environ["RC"]); print(json.dumps(d))' \
    >"$work/$name-audit.json"
}
# A probe outside the Python client: one stateless run_query by curl every 0.2 s
# with its own key (label `probe`), logging "wall-time HTTP-code seconds ok".
# It sees the server's recovery without the client's event loop in the way.
start_probe() {
  local name=$1 pkey
  pkey="$("$bin" keys create --insecure --scope mcp --label probe --json | json_field api_key)"
  cat >"$work/$name-probe.sh" <<EOF
i=0
while :; do
  i=\$((i + 1))
  t=\$(date +%s.%N)
  out=\$(curl -s -m 10 -o '$work/$name-probe.body' -w '%{http_code} %{time_total}' '$url/mcp' \\
    -H 'Authorization: Bearer $pkey' -H 'Content-Type: application/json' \\
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \\
    -H 'Mcp-Method: tools/call' -H 'Mcp-Name: run_query' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"connection":"shop","sql":"SELECT id FROM customers WHERE id = \$1","params":[42]},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"probe","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}') || out="000 10"
  ok=0
  grep -q '"rows":\[\[42\]\]' '$work/$name-probe.body' 2>/dev/null && ok=1
  rm -f '$work/$name-probe.body'
  echo "\$t \$out \$ok" >>'$work/$name-probe.log'
  sleep 0.2
done
EOF
  bash "$work/$name-probe.sh" </dev/null >/dev/null 2>&1 &
  echo $! >"$work/probe.pid"
}
stop_probe() { kill "$(cat "$work/probe.pid")" 2>/dev/null || true; rm -f "$work/probe.pid"; }
nkeys=$(((sessions + 24) / 25))
small=$((sessions / 10 < 10 ? 10 : sessions / 10))
fault_len=$((duration * 3 / 4 < 45 ? 45 : duration * 3 / 4))
results=()

# ---------------------------------------------------------------------------
if want load; then
  log "scenario load: $sessions sessions for ${duration}s"
  start_server load 127.0.0.1 "$nkeys"
  add_shop
  timeout $((duration + 300)) "$PY" bench/load.py mix --url "$url/mcp" --keys "$keys" \
    --sessions "$sessions" --duration "$duration" --id-base 0 >"$work/load.json"
  audit_check load "$work/load.json"
  stop_server
  results+=(load)
fi

# ---------------------------------------------------------------------------
if want kill; then
  log "scenario kill: $sessions sessions for ${fault_len}s, SIGKILL at $((fault_len / 3))s, restart"
  start_server kill 127.0.0.1 "$nkeys"
  add_shop
  # Dead means gone or a zombie: its parent (PID 1 here) may reap it late.
  cat >"$work/kill-fault.sh" <<EOF
pid=\$(cat '$work/server.pid')
kill -KILL \$pid
while [ -e /proc/\$pid ] && ! grep -q '^State:.*Z' /proc/\$pid/status 2>/dev/null; do sleep 0.01; done
EOF
  start_probe kill
  timeout $((fault_len + 300)) "$PY" bench/load.py mix --url "$url/mcp" --keys "$keys" \
    --sessions "$sessions" --duration "$fault_len" --id-base 100000000000 --probe-log "$work/kill-probe.log" \
    --window "sigkill,$((fault_len / 3)),$work/kill-fault.sh,$((fault_len / 3)),$work/kill-start.sh" >"$work/kill.json"
  stop_probe
  audit_check kill "$work/kill.json"
  stop_server
  results+=(kill)
fi

# ---------------------------------------------------------------------------
if want pg; then
  log "scenario pg: $sessions sessions for ${fault_len}s, PostgreSQL down from $((fault_len / 3))s for 10s"
  start_server pg 127.0.0.1 "$nkeys"
  add_shop
  pgopts="-p $CONEXOR_TEST_PG_PORT -k $CONEXOR_TEST_DIR/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
  cat >"$work/pg-stop.sh" <<EOF
runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$CONEXOR_TEST_PG_DATADIR' -m fast -w -t 30 stop >/dev/null
EOF
  cat >"$work/pg-start.sh" <<EOF
runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$CONEXOR_TEST_PG_DATADIR' -l '$CONEXOR_TEST_DIR/pg.log' -w -t 30 \\
  -o '$pgopts' start >/dev/null </dev/null 3>&-
EOF
  start_probe pg
  timeout $((fault_len + 300)) "$PY" bench/load.py mix --url "$url/mcp" --keys "$keys" \
    --sessions "$sessions" --duration "$fault_len" --id-base 200000000000 --probe-log "$work/pg-probe.log" \
    --window "pg-restart,$((fault_len / 3)),$work/pg-stop.sh,$((fault_len / 3 + 10)),$work/pg-start.sh" >"$work/pg.json"
  stop_probe
  audit_check pg "$work/pg.json"
  stop_server
  results+=(pg)
fi

# ---------------------------------------------------------------------------
if want agent; then
  log "scenario agent: network namespace $NS, agent and its PostgreSQL inside"
  host_ip=10.232.$(($$ % 200)).1
  ns_ip=10.232.$(($$ % 200)).2
  ip netns add "$NS"
  netns_made=1
  ip link add "$VH" type veth peer name "$VN"
  ip link set "$VN" netns "$NS"
  ip addr add "$host_ip/30" dev "$VH"
  ip link set "$VH" up
  ip netns exec "$NS" ip addr add "$ns_ip/30" dev "$VN"
  ip netns exec "$NS" ip link set "$VN" up
  ip netns exec "$NS" ip link set lo up
  pw="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s\n' "$pw" >"$work/agent-pw"
  chown postgres "$work/agent-pw"
  mkdir "$work/agent-pg" && chown postgres "$work/agent-pg"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$work/agent-pg" -A scram-sha-256 --pwfile="$work/agent-pw" -U postgres --no-sync >/dev/null
  ip netns exec "$NS" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$work/agent-pg" -l "$work/agent-pg/server.log" -w \
    -o "-p 5432 -k $work/agent-pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  nsql() { ip netns exec "$NS" env PGPASSWORD="$pw" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres "$@"; }
  nsql -d postgres -c "CREATE ROLE agent_reader LOGIN PASSWORD '$pw'" -c "CREATE DATABASE shop"
  # The shop fixture with a 20,000-row `big` (the answers are 1000 rows).
  sed 's/generate_series(1, 1000000)/generate_series(1, 20000)/' scripts/fixtures/shop.pg.sql | nsql -d shop >/dev/null
  nsql -d shop -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO agent_reader"

  start_server agent "$host_ip" "$(((small + 24) / 25))"
  token="$("$bin" agents create dc1 --insecure --expires-in 10m --json | json_field token)"
  cat >"$work/agent.toml" <<TOML
server = "$url"
token_env = "CONEXOR_AGENT_TOKEN"
insecure = true   # plain ws:// on a host-internal veth pair
state_dir = "$work/agent-state"
[[connections]]
name = "warehouse"
url_env = "WAREHOUSE_URL"
TOML
  cat >"$work/agent-start.sh" <<EOF
ip netns exec '$NS' env CONEXOR_AGENT_TOKEN='$token' WAREHOUSE_URL='postgres://agent_reader:$pw@127.0.0.1:5432/shop' \\
  nohup '$bin' agent --config '$work/agent.toml' </dev/null >>'$work/agent.log' 2>&1 &
echo \$! >'$work/agent.pid'
EOF
  bash "$work/agent-start.sh"
  for _ in $(seq 1 100); do
    "$bin" connections list --insecure --json | grep -q '"tables":6' && break
    sleep 0.2
  done
  "$bin" connections list --insecure --json | grep -q 'warehouse' || die "the agent did not connect (log: $work/agent.log)"
  cat >"$work/agent-kill.sh" <<EOF
kill -KILL \$(cat '$work/agent.pid')
EOF
  cat >"$work/agent-cut.sh" <<EOF
ip netns exec '$NS' ip link set '$VN' down
EOF
  cat >"$work/agent-uncut.sh" <<EOF
ip netns exec '$NS' ip link set '$VN' up
EOF
  # 0-10 s steady; 10 s SIGKILL, restart at 13 s; 35 s link down for 20 s; end at 85 s.
  timeout 400 "$PY" bench/load.py mix --url "$url/mcp" --keys "$keys" --connection warehouse \
    --sessions "$small" --duration 85 --id-base 300000000000 --big-offset-max 18000 --grace 40 \
    --agent-log "$work/agent.log" \
    --window "agent-sigkill,10,$work/agent-kill.sh,13,$work/agent-start.sh" \
    --window "network-cut,35,$work/agent-cut.sh,55,$work/agent-uncut.sh" >"$work/agent.json"
  audit_check agent "$work/agent.json"
  kill -KILL "$(cat "$work/agent.pid")" 2>/dev/null || true
  stop_server
  results+=(agent)
fi

# ---------------------------------------------------------------------------
if want slow; then
  log "scenario slow: 40 clients that never read a ~5.4 MB answer, beside $small sessions"
  start_server slow 127.0.0.1 $(((small + 24) / 25 + 1))
  add_shop
  # The slow clients use the last key, which some live sessions use too: a
  # stuck answer must not hold that key's concurrency slots (40 > 16).
  slow_key=${keys##*,}
  timeout 400 "$PY" bench/load.py slow --url "$url/mcp" --keys "$keys" --sessions "$small" \
    --duration 60 --id-base 400000000000 --port "$port" --pid-file "$work/server.pid" \
    --slow-key "$slow_key" --slow-clients 40 --slow-at 15 --slow-hold 30 >"$work/slow.json"
  audit_check slow "$work/slow.json"
  stop_server
  results+=(slow)
fi

args=()
for r in "${results[@]}"; do args+=("$r=$work/$r.json" "$r-audit=$work/$r-audit.json"); done
{
  echo "## Load and faults (bench/load.sh)"
  echo
  echo "- Command: \`$COMMAND\`; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short=12 HEAD)$([[ -n $(git status --porcelain) ]] && echo ' (uncommitted changes)')"
  echo "- Machine: $(nproc) cores (shared with other work), $(uname -r); binary \`$bin\`; \`conexor server --durability process-crash\`; client: official MCP Python SDK $("$PY" -c 'import importlib.metadata as m; print(m.version("mcp"))') (Streamable HTTP, initialize handshake: one Mcp-Session-Id per session), all sessions in one asyncio process on the same machine"
  "$PY" bench/load.py report "${args[@]}"
} | tee ${out:+"$out"}
