#!/usr/bin/env bash
# Outbound-only, shown for real. PostgreSQL and `conexor agent` run inside a
# network namespace ("the customer's network"); `conexor server` runs outside
# it. The namespace reaches the server over a veth pair; nothing outside can
# reach the database (it listens on the namespace's own loopback). Then:
#   - the server cannot reach the database (a TCP connect and a direct-mode
#     connection test from outside both fail);
#   - the agent dials out, enrols with a one-time token, offers `warehouse`;
#   - the official MCP Python SDK lists, searches, describes and queries it
#     through the server, and a DELETE is refused;
#   - the server's data directory holds neither the database password nor
#     the connection URL.
# Usage: tests/agent_netns.sh PYTHON   (as root; run by scripts/test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$1"
BIN="$ROOT/target/debug/conexor"
PG_BIN=/usr/lib/postgresql/15/bin
NS="cxag$$"
H="cxh$$"
N="cxn$$"
HOST_IP=10.231.$(($$ % 200)).1
NS_IP=10.231.$(($$ % 200)).2
T="$(mktemp -d /tmp/conexor-netns-XXXXXX)"
chmod 755 "$T"
log() { printf 'agent-netns: %s\n' "$*" >&2; }
cleanup() {
  local code=$?
  [[ -n "${AGENT_PID:-}" ]] && kill "$AGENT_PID" 2>/dev/null || true
  [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null || true
  ip netns exec "$NS" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg" -m immediate stop >/dev/null 2>&1 || true
  ip link del "$H" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  if [[ $code -ne 0 ]]; then
    for f in server.err agent.err pg/server.log; do [[ -f "$T/$f" ]] && { echo "--- $f"; tail -n 30 "$T/$f"; } >&2; done
  fi
  rm -rf "$T"
  exit "$code"
}
trap cleanup EXIT

log "network namespace $NS ($NS_IP) <-> host ($HOST_IP)"
ip netns add "$NS"
ip link add "$H" type veth peer name "$N"
ip link set "$N" netns "$NS"
ip addr add "$HOST_IP/30" dev "$H"
ip link set "$H" up
ip netns exec "$NS" ip addr add "$NS_IP/30" dev "$N"
ip netns exec "$NS" ip link set "$N" up
ip netns exec "$NS" ip link set lo up

log "PostgreSQL inside the namespace, on its loopback only"
pw="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$pw" >"$T/pw"
chown postgres "$T/pw"
mkdir "$T/pg" && chown postgres "$T/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$T/pg" -A scram-sha-256 --pwfile="$T/pw" -U postgres --no-sync >/dev/null
ip netns exec "$NS" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg" -l "$T/pg/server.log" -w \
  -o "-p 5432 -k $T/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
nsql() { ip netns exec "$NS" env PGPASSWORD="$pw" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres "$@"; }
nsql -d postgres -c "CREATE ROLE agent_reader LOGIN PASSWORD '$pw'" -c "CREATE DATABASE shop"
nsql -d shop -f "$ROOT/scripts/fixtures/shop.pg.sql" >/dev/null
nsql -d shop -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO agent_reader"

log "conexor server outside the namespace"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ADMIN="cxadm_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
CONEXOR_ADMIN_TOKEN="$ADMIN" "$BIN" server --data-dir "$T/server" --listen "$HOST_IP:$PORT" \
  --allowed-host "$HOST_IP" 2>"$T/server.err" &
SERVER_PID=$!
URL="http://$HOST_IP:$PORT"
for _ in $(seq 1 50); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.2; done
export CONEXOR_URL="$URL"
KEY="$("$BIN" init --insecure --admin-token "$ADMIN" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"
export CONEXOR_API_KEY="$KEY"

log "the server has no way to the database"
if "$PY" -c "import socket,sys; s=socket.create_connection(('$NS_IP',5432),timeout=3)" 2>/dev/null; then
  echo "the server's side reached the database port" >&2; exit 1
fi
if printf '%s' "$pw" | "$BIN" connections test --insecure --type postgresql --host "$NS_IP" --port 5432 \
     --database shop --user agent_reader --password-stdin >/dev/null 2>&1; then
  echo "a direct-mode connection test from the server reached the database" >&2; exit 1
fi

log "agent inside the namespace dials out"
TOKEN="$("$BIN" agents create dc1 --insecure --expires-in 10m --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
cat >"$T/agent.toml" <<TOML
server = "$URL"
token_env = "CONEXOR_AGENT_TOKEN"
insecure = true   # plain ws:// on a private test link
state_dir = "$T/agent-state"
[[connections]]
name = "warehouse"
url_env = "WAREHOUSE_URL"
TOML
ip netns exec "$NS" env CONEXOR_AGENT_TOKEN="$TOKEN" WAREHOUSE_URL="postgres://agent_reader:$pw@127.0.0.1:5432/shop" \
  "$BIN" agent --config "$T/agent.toml" 2>"$T/agent.err" &
AGENT_PID=$!
for _ in $(seq 1 100); do
  "$BIN" agents list --insecure --json | grep -q '"state":"connected"' && \
    "$BIN" connections list --insecure --json | grep -q '"tables":6' && break
  kill -0 "$AGENT_PID" 2>/dev/null || { echo "the agent exited" >&2; exit 1; }
  sleep 0.2
done
"$BIN" agents list --insecure | grep -q ' connected ' || { echo "the agent never connected" >&2; exit 1; }

log "the official MCP Python SDK queries through the agent"
"$PY" "$ROOT/tests/python/mcp_agent_check.py" --url "$URL/mcp" --key "$KEY" --connection warehouse

log "the server's store holds no secret of the agent connection"
if grep -rqaF "$pw" "$T/server" || grep -rqaF "agent_reader:" "$T/server" || grep -qaF "$pw" "$T/server.err"; then
  echo "the agent connection's password or URL reached the server's disk" >&2; exit 1
fi
grep -q "Connected." "$T/agent.err" || { echo "the agent did not log its connection" >&2; exit 1; }
log "ok"
