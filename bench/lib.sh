# Shared by the bench scripts (sourced, not run): a private PostgreSQL's
# `conexor server` set up the way a user would, and the stateless MCP request.
# The caller sets $work (a scratch directory it removes), $pids (an array it
# kills on exit) and has run `scripts/test-env.sh start`.

# prepare_bench: sets $bin (this tree's release build unless --bin gave one)
# and starts a private PostgreSQL under $work/db, exporting its URLs.
prepare_bench() {
  if [[ -z ${bin:-} ]]; then
    log "building the release binary"
    cargo build --release --locked -p conexor >&2
    bin="$ROOT/target/release/conexor"
  fi
  log "starting a private PostgreSQL"
  eval "$(CONEXOR_TEST_DIR="$work/db" CONEXOR_TEST_SERVERS=pg CONEXOR_TEST_OWNER_PID=$$ scripts/test-env.sh start)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_conexor BIN NAME [extra server args...]: a server on a free port with a
# fresh store, a workspace, the connection `shop` (the private PostgreSQL's
# read-only login) and an MCP key; sets ${NAME}_pid, ${NAME}_port, ${NAME}_key
# and ${NAME}_admin. The audit's durability is process-crash unless
# CONEXOR_BENCH_DURABILITY says otherwise (power-loss: an fsync per commit).
start_conexor() {
  local bin=$1 name=$2 port admin api key
  shift 2
  port=$(free_port)
  admin="cxadm_$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
  CONEXOR_ADMIN_TOKEN="$admin" "$bin" server --data-dir "$work/$name" --listen "127.0.0.1:$port" \
    --durability "${CONEXOR_BENCH_DURABILITY:-process-crash}" --log-level warn "$@" 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null \
    || die "$name did not start on port $port: $(tail -n 5 "$work/$name.log")"
  api="$(CONEXOR_URL="http://127.0.0.1:$port" "$bin" init --admin-token "$admin" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"
  echo "$CONEXOR_TEST_PG_READER_URL" | CONEXOR_URL="http://127.0.0.1:$port" CONEXOR_API_KEY="$api" "$bin" connections add shop --url-stdin >/dev/null
  key="$(CONEXOR_URL="http://127.0.0.1:$port" CONEXOR_API_KEY="$api" "$bin" keys create --scope mcp --label bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_port" '%s' "$port"
  printf -v "${name}_key" '%s' "$key"
  printf -v "${name}_admin" '%s' "$admin"
  printf -v "${name}_api" '%s' "$api"
}

# start_agent BIN NAME SERVER_PORT API_KEY CONNECTION: `conexor agent` in its own
# process, dialling out to the server on SERVER_PORT and offering CONNECTION
# (the private PostgreSQL's read-only login); waits until the server lists it
# online with its tables; sets ${NAME}_pid. Its local audit log has the same
# durability as the server's (CONEXOR_BENCH_DURABILITY), so that agent and
# direct mode are compared at equal durability. CONEXOR_BENCH_AGENT_WRAP, when
# set, is a command the agent runs under (bench/profile.sh --agent-side: valgrind).
start_agent() {
  local bin=$1 name=$2 port=$3 api=$4 connection=$5 token
  token="$(CONEXOR_URL="http://127.0.0.1:$port" CONEXOR_API_KEY="$api" "$bin" agents create "$name" --expires-in 10m --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
  cat >"$work/$name.toml" <<TOML
server = "http://127.0.0.1:$port"
token_env = "CONEXOR_AGENT_TOKEN"
state_dir = "$work/$name-state"
durability = "${CONEXOR_BENCH_DURABILITY:-process-crash}"
[[connections]]
name = "$connection"
url_env = "CONEXOR_BENCH_AGENT_URL"
TOML
  local wrap=()
  [[ -n ${CONEXOR_BENCH_AGENT_WRAP:-} ]] && read -r -a wrap <<<"$CONEXOR_BENCH_AGENT_WRAP"
  CONEXOR_AGENT_TOKEN="$token" CONEXOR_BENCH_AGENT_URL="$CONEXOR_TEST_PG_READER_URL" \
    "${wrap[@]}" "$bin" agent --config "$work/$name.toml" </dev/null >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    CONEXOR_URL="http://127.0.0.1:$port" CONEXOR_API_KEY="$api" "$bin" connections list --json 2>/dev/null \
      | python3 -c "import json,sys; c=[c for c in json.load(sys.stdin)['connections'] if c['name']=='$connection']; sys.exit(0 if c and c[0].get('online') and c[0].get('tables') else 1)" \
      && break
    sleep 0.2
  done
  printf -v "${name}_pid" '%s' "$pid"
}

# The small stateless call every HTTP bench sends (2026-07-28: per-request
# protocol metadata, no session).
readonly MCP_SMALL_CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"connection":"shop","sql":"SELECT id, email FROM customers WHERE id = $1","params":[42]},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"4"},"io.modelcontextprotocol/clientCapabilities":{}}}}'

# wrk_script KEY BODY: a wrk Lua script that POSTs BODY as a stateless
# 2026-07-28 `tools/call` of run_query with KEY as the bearer.
wrk_script() {
  cat <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $1"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "run_query"
wrk.body = '$2'
EOF
}
